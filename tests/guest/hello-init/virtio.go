//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// virtioSwitch on the kernel command line makes hello-init exercise the
// virtio devices hull gave it (tests/kvm TestLinuxVirtio), printing:
//
//	hello-init: vda sectors=N sha256=<hex of sector 0>
//	hello-init: vdb wrote sector 1 and read it back
//	hello-init: hwrng=virtio_rng.0 read=32
//	hello-init: virtio done
//
// Each line is skipped when its device is absent; a failure prints
// "hello-init: virtio error: ..." instead.
const virtioSwitch = "hello.virtio=1"

// vdbPattern is what hello-init writes to sector 1 of /dev/vdb; the host
// side checks the disk image afterwards.
var vdbPattern = bytes.Repeat([]byte("hull-virtio-blk!"), 512/16)

func virtioChecks(console io.Writer) {
	if err := mountFS("devtmpfs", "/dev"); err != nil {
		fmt.Fprintf(console, "hello-init: virtio error: mount /dev: %v\n", err)
		return
	}
	if err := mountFS("sysfs", "/sys"); err != nil {
		fmt.Fprintf(console, "hello-init: virtio error: mount /sys: %v\n", err)
		return
	}
	for _, check := range []func(io.Writer) error{checkVDA, checkVDB, checkHWRNG} {
		if err := check(console); err != nil {
			fmt.Fprintf(console, "hello-init: virtio error: %v\n", err)
		}
	}
	fmt.Fprintln(console, "hello-init: virtio done")
}

func mountFS(fstype, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return syscall.Mount(fstype, dir, fstype, 0, "")
}

// checkVDA prints the size and the SHA-256 of sector 0 of /dev/vda.
func checkVDA(console io.Writer) error {
	f, err := os.Open("/dev/vda")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sector := make([]byte, 512)
	if _, err := io.ReadFull(f, sector); err != nil {
		return fmt.Errorf("read /dev/vda: %w", err)
	}
	size, err := os.ReadFile("/sys/block/vda/size")
	if err != nil {
		return err
	}
	fmt.Fprintf(console, "hello-init: vda sectors=%s sha256=%x\n", strings.TrimSpace(string(size)), sha256.Sum256(sector))
	return nil
}

// checkVDB writes vdbPattern to sector 1 of /dev/vdb, syncs (a FLUSH
// request) and reads it back.
func checkVDB(console io.Writer) error {
	f, err := os.OpenFile("/dev/vdb", os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(vdbPattern, 512); err != nil {
		return fmt.Errorf("write /dev/vdb: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync /dev/vdb: %w", err)
	}
	back := make([]byte, 512)
	if _, err := f.ReadAt(back, 512); err != nil {
		return fmt.Errorf("read /dev/vdb: %w", err)
	}
	if !bytes.Equal(back, vdbPattern) {
		return fmt.Errorf("/dev/vdb sector 1 reads back different data")
	}
	fmt.Fprintln(console, "hello-init: vdb wrote sector 1 and read it back")
	return nil
}

// checkHWRNG prints the current hardware RNG and reads 32 bytes from it.
func checkHWRNG(console io.Writer) error {
	cur, err := os.ReadFile("/sys/class/misc/hw_random/rng_current")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := os.Open("/dev/hwrng")
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 32)
	n, err := io.ReadFull(f, b)
	if err != nil {
		return fmt.Errorf("read /dev/hwrng: %w", err)
	}
	fmt.Fprintf(console, "hello-init: hwrng=%s read=%d\n", strings.TrimSpace(string(cur)), n)
	return nil
}
