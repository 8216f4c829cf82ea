//go:build linux

package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// p9Switch on the kernel command line makes hello-init mount the virtio-9p
// shares hull gave it (tests/kvm TestLinux9p) and exercise them:
//
//	hello-init: 9p read hello.txt="..."
//	hello-init: 9p big.bin sha256=<hex> MB/s=<rate>
//	hello-init: 9p wrote out/guest.txt, made out/madedir and out/mylink, removed out/junk
//	hello-init: 9p readdir [names...]
//	hello-init: 9p link abs: <what reading it gave>   (and rel, etcabs)
//	hello-init: 9p ro write=<errno> mkdir=<errno> unlink=<errno> read="..."
//	hello-init: 9p exec ok
//	hello-init: 9p done
//
// "share" is mounted on /mnt, "rootro" (a read-only share) on /ro, both
// read-write in the guest, so the refusals come from the device. A failure
// prints "hello-init: 9p error: ..." instead of the line.
const p9Switch = "hello.9p=1"

// p9ExecArg is the argument hello-init runs itself with from the share.
const p9ExecArg = "9p-exec"

// p9Options are the agent's (agent.Rootfs9pOptions).
const p9Options = "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"

// p9GuestData is what hello-init writes to out/guest.txt.
const p9GuestData = "written by the guest over virtio-9p\n"

func p9Checks(console io.Writer) {
	say := func(format string, args ...any) { fmt.Fprintf(console, "hello-init: 9p "+format+"\n", args...) }
	fail := func(format string, args ...any) { say("error: "+format, args...) }
	for tag, dir := range map[string]string{"share": "/mnt", "rootro": "/ro"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fail("mkdir %s: %v", dir, err)
			return
		}
		if err := syscall.Mount(tag, dir, "9p", 0, p9Options); err != nil {
			fail("mount %s on %s: %v", tag, dir, err)
			return
		}
	}

	if b, err := os.ReadFile("/mnt/hello.txt"); err != nil {
		fail("read hello.txt: %v", err)
	} else {
		say("read hello.txt=%q", b)
	}

	t0 := time.Now()
	if b, err := os.ReadFile("/mnt/big.bin"); err != nil {
		fail("read big.bin: %v", err)
	} else {
		say("big.bin sha256=%x MB/s=%.0f", sha256.Sum256(b), float64(len(b))/time.Since(t0).Seconds()/1e6)
	}

	if err := p9Write(); err != nil {
		fail("%v", err)
	} else {
		say("wrote out/guest.txt, made out/madedir and out/mylink, removed out/junk")
	}

	if ents, err := os.ReadDir("/mnt"); err != nil {
		fail("readdir: %v", err)
	} else {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		say("readdir %v", names)
	}

	// Links pointing out of the share resolve in the guest's own tree.
	for _, name := range []string{"abs", "rel", "etcabs"} {
		b, err := os.ReadFile("/mnt/" + name)
		switch {
		case err != nil:
			say("link %s: %v", name, errName(err))
		default:
			say("link %s: read %q", name, b[:min(len(b), 40)])
		}
	}

	// The read-only share, mounted read-write here: the device refuses.
	werr := os.WriteFile("/ro/new.txt", []byte("x"), 0o644)
	merr := os.Mkdir("/ro/newdir", 0o755)
	uerr := os.Remove("/ro/file.txt")
	rb, rerr := os.ReadFile("/ro/file.txt")
	if rerr != nil {
		fail("ro read: %v", rerr)
	}
	say("ro write=%s mkdir=%s unlink=%s read=%q", errName(werr), errName(merr), errName(uerr), rb)

	// A program run from the share: mmap and exec over 9p.
	if out, err := exec.Command("/mnt/hello-init", p9ExecArg).CombinedOutput(); err != nil {
		fail("exec from the share: %v (%q)", err, out)
	} else {
		say("exec %s", strings.TrimSpace(string(out)))
	}

	for _, dir := range []string{"/mnt", "/ro"} {
		if err := syscall.Unmount(dir, 0); err != nil {
			fail("unmount %s: %v", dir, err)
		}
	}
	say("done")
}

// p9Write makes, renames and removes files on the share.
func p9Write() error {
	f, err := os.OpenFile("/mnt/out/guest.tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteString(p9GuestData)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename("/mnt/out/guest.tmp", "/mnt/out/guest.txt"); err != nil {
		return err
	}
	if err := os.Mkdir("/mnt/out/madedir", 0o750); err != nil {
		return err
	}
	if err := os.Symlink("../../outside/secret", "/mnt/out/mylink"); err != nil {
		return err
	}
	return os.Remove("/mnt/out/junk")
}

// errName is the errno's name (ENOENT, EROFS, ...), "ok" for nil.
func errName(err error) string {
	var e syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		for name, n := range map[string]syscall.Errno{"ENOENT": syscall.ENOENT, "EROFS": syscall.EROFS,
			"EACCES": syscall.EACCES, "EPERM": syscall.EPERM, "ELOOP": syscall.ELOOP, "EINVAL": syscall.EINVAL} {
			if e == n {
				return name
			}
		}
		return fmt.Sprintf("errno %d", int(e))
	}
	return err.Error()
}
