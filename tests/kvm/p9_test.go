package kvmtests

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/vmm"
)

// TestLinux9p boots the guest kernel with two virtio-9p shares, "share"
// (writable) and "rootro" (read-only), and hello-init with hello.9p=1,
// which mounts both as the agent mounts a container's root
// (trans=virtio,version=9p2000.L,msize=512000,cache=mmap) and reads,
// writes, renames, lists, follows links pointing out of the share, tries
// to change the read-only one and runs a program from the share
// (tests/guest/hello-init/p9.go). Checked: each line it prints, and on the
// host afterwards the files it made, the read-only share and the
// directory next to the shares unchanged.
func TestLinux9p(t *testing.T) {
	testtier.RequireKVM(t)
	kernel := testtier.RequireFile(t, envKernel, "guest kernel (vmlinux)")
	initBin := testtier.RequireFile(t, envInit, "hello-init binary")
	initrd := writeInitrd(t, initBin)

	base := t.TempDir()
	share, ro, outside := filepath.Join(base, "share"), filepath.Join(base, "ro"), filepath.Join(base, "outside")
	secret := fmt.Sprintf("HOST-SECRET-%x\n", randBytes(t, 8))
	big := randBytes(t, 4<<20)
	prog, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{
		filepath.Join(share, "hello.txt"):   []byte("hello over 9p\n"),
		filepath.Join(share, "big.bin"):     big,
		filepath.Join(share, "out", "junk"): []byte("remove me"),
		filepath.Join(share, "hello-init"):  prog,
		filepath.Join(ro, "file.txt"):       []byte("read-only\n"),
		filepath.Join(outside, "secret"):    []byte(secret),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(share, "hello-init"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"abs":    filepath.Join(outside, "secret"), // the host's absolute path of the secret
		"rel":    "../outside/secret",              // climbing out of the share
		"etcabs": "/etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(share, name)); err != nil {
			t.Fatal(err)
		}
	}

	const done = "hello-init: 9p done"
	cfg := vmm.Config{
		Kernel: kernel, Initrd: initrd, Cmdline: linuxCmdline() + " hello.9p=1", MemMiB: 256,
		Shares: []vmm.Share{{Tag: "share", Path: share}, {Tag: "rootro", Path: ro, ReadOnly: true}},
	}
	r := boot(t, cfg, linuxTimeout, done)
	if at := r.con.seenAt(done); !at.IsZero() {
		t.Logf("Linux with two 9p shares: checks done after %v", at.Sub(r.start).Round(1e6))
	}
	if line := lineWith(r.out, "9p error"); line != "" {
		t.Errorf("guest: %s", line)
	}
	for _, want := range []string{
		`hello-init: 9p read hello.txt="hello over 9p\n"`,
		fmt.Sprintf("hello-init: 9p big.bin sha256=%x ", sha256.Sum256(big)),
		"hello-init: 9p wrote out/guest.txt",
		"hello-init: 9p readdir [abs big.bin etcabs hello-init hello.txt out rel]",
		"hello-init: 9p link abs: ENOENT",
		"hello-init: 9p link rel: ENOENT",
		"hello-init: 9p link etcabs: ENOENT",
		`hello-init: 9p ro write=EROFS mkdir=EROFS unlink=EROFS read="read-only\n"`,
		"hello-init: 9p exec ok",
		done,
	} {
		if line := lineWith(r.out, strings.TrimSuffix(want, " ")); !strings.HasPrefix(line, want) {
			t.Errorf("guest printed %q, want a line starting %q", line, want)
		}
	}
	if line := lineWith(r.out, "big.bin sha256"); line != "" {
		t.Logf("guest: %s", line)
	}
	if strings.Contains(r.out, "HOST-SECRET") {
		t.Error("the guest read the host's secret through a link")
	}
	wantStop(t, r, vmm.ReasonReset, 0)

	// what the guest did, seen from the host
	if b, err := os.ReadFile(filepath.Join(share, "out", "guest.txt")); err != nil || string(b) != "written by the guest over virtio-9p\n" {
		t.Errorf("out/guest.txt: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(share, "out", "madedir")); err != nil || !fi.IsDir() {
		t.Errorf("out/madedir: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(share, "out", "mylink")); err != nil || l != "../../outside/secret" {
		t.Errorf("out/mylink -> %q, %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(share, "out", "junk")); !os.IsNotExist(err) {
		t.Errorf("out/junk not removed: %v", err)
	}
	if ents, err := os.ReadDir(ro); err != nil || len(ents) != 1 {
		t.Errorf("the read-only share holds %v, %v", ents, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != secret {
		t.Errorf("outside/secret: %q, %v", b, err)
	}
	if ents, err := os.ReadDir(base); err != nil || len(ents) != 3 {
		t.Errorf("next to the shares: %v, %v", ents, err)
	}
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
