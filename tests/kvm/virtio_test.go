package kvmtests

import (
	"bytes"
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

// TestLinuxVirtio boots the guest kernel with two virtio-blk disks (vda
// read-only with random contents, vdb writable) and virtio-rng, and
// hello-init with hello.virtio=1, which reads vda's first sector, writes
// and syncs a pattern to vdb's second sector and reads the hardware RNG
// (tests/guest/hello-init/virtio.go). Checked: the checksum and size it
// prints, the pattern in vdb's image file on the host afterwards, and that
// the guest's current hwrng is virtio's.
func TestLinuxVirtio(t *testing.T) {
	testtier.RequireKVM(t)
	kernel := testtier.RequireFile(t, envKernel, "guest kernel (vmlinux)")
	initBin := testtier.RequireFile(t, envInit, "hello-init binary")
	initrd := writeInitrd(t, initBin)

	dir := t.TempDir()
	vda := make([]byte, 64<<10)
	if _, err := rand.Read(vda); err != nil {
		t.Fatal(err)
	}
	vdaPath, vdbPath := filepath.Join(dir, "vda.img"), filepath.Join(dir, "vdb.img")
	if err := os.WriteFile(vdaPath, vda, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vdbPath, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}

	const done = "hello-init: virtio done"
	cfg := vmm.Config{
		Kernel: kernel, Initrd: initrd, Cmdline: linuxCmdline() + " hello.virtio=1", MemMiB: 256,
		Disks: []vmm.Disk{{Path: vdaPath, ReadOnly: true}, {Path: vdbPath}},
		RNG:   true,
	}
	r := boot(t, cfg, linuxTimeout, done)
	if at := r.con.seenAt(done); !at.IsZero() {
		t.Logf("Linux with 2 disks and an RNG: virtio checks done after %v", at.Sub(r.start).Round(1e6))
	}
	if line := lineWith(r.out, "virtio error"); line != "" {
		t.Errorf("guest: %s", line)
	}
	want := fmt.Sprintf("hello-init: vda sectors=%d sha256=%x", len(vda)/512, sha256.Sum256(vda[:512]))
	if line := lineWith(r.out, "hello-init: vda "); line != want {
		t.Errorf("guest printed %q, want %q", line, want)
	}
	if line := lineWith(r.out, "hello-init: vdb "); line == "" {
		t.Error("no vdb line: the guest did not write the second disk")
	}
	if line := lineWith(r.out, "hello-init: hwrng="); !strings.HasPrefix(line, "hello-init: hwrng=virtio_rng") {
		t.Errorf("hwrng line %q, want the virtio RNG as the current hwrng", line)
	}
	if lineWith(r.out, done) == "" {
		t.Error("hello-init did not finish its virtio checks")
	}
	wantStop(t, r, vmm.ReasonReset, 0)

	img, err := os.ReadFile(vdbPath)
	if err != nil {
		t.Fatal(err)
	}
	if pattern := bytes.Repeat([]byte("hull-virtio-blk!"), 512/16); !bytes.Equal(img[512:1024], pattern) {
		t.Errorf("vdb.img sector 1 after the run: %q...", img[512:560])
	}
	if back, _ := os.ReadFile(vdaPath); !bytes.Equal(back, vda) {
		t.Error("the read-only disk changed")
	}
}
