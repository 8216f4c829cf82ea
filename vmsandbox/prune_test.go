package vmsandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/vmm"
)

// TestPruneTemplates: after a new template, the others whose image or
// binary changed or went, or that have no record of them, are removed;
// current ones, the new one and one whose lock another create holds stay.
func TestPruneTemplates(t *testing.T) {
	img := t.TempDir()
	kernel, initrd := filepath.Join(img, "vmlinux"), filepath.Join(img, "initrd")
	for _, p := range []string{kernel, initrd} {
		if err := os.WriteFile(p, []byte("image"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &vmm.Config{Kernel: kernel, Initrd: initrd, Vsock: &vmm.Vsock{CID: 3}}
	dir := t.TempDir()
	mk := func(name string, inputs bool) string {
		t.Helper()
		tdir := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(tdir, "snapshot"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tdir, "snapshot", "memory"), []byte("m"), 0o600); err != nil {
			t.Fatal(err)
		}
		if inputs {
			if err := writeInputs(tdir, cfg); err != nil {
				t.Fatal(err)
			}
		}
		return tdir
	}
	mk("new", true)
	mk("current", true)
	mk("norecord", false)
	mk("changed", true)
	mk("gone", true)
	mk("locked", false)
	// "changed": its kernel was rebuilt since; "gone": its initrd deleted.
	cfg2 := *cfg
	cfg2.Initrd = filepath.Join(img, "old-initrd")
	os.WriteFile(cfg2.Initrd, []byte("x"), 0o644)
	if err := writeInputs(filepath.Join(dir, "gone"), &cfg2); err != nil {
		t.Fatal(err)
	}
	os.Remove(cfg2.Initrd)
	cfg3 := *cfg
	cfg3.Kernel = filepath.Join(img, "old-vmlinux")
	os.WriteFile(cfg3.Kernel, []byte("x"), 0o644)
	if err := writeInputs(filepath.Join(dir, "changed"), &cfg3); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(cfg3.Kernel, later, later)

	held, err := os.OpenFile(filepath.Join(dir, "locked.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	removed, err := pruneTemplates(dir, "new")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{"changed", "gone", "norecord"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, name := range []string{"new", "current", "locked"} {
		if _, err := os.Stat(filepath.Join(dir, name, "snapshot", "memory")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range removed {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", name, err)
		}
	}
	// The key follows the same inputs: a rebuilt kernel is another key,
	// and "current" turns stale.
	k1 := templateKey(cfg)
	os.Chtimes(kernel, later, later)
	if k2 := templateKey(cfg); k2 == k1 || !stale(filepath.Join(dir, "current")) {
		t.Errorf("after the kernel changed: key %s (was %s), current stale %v", k2, k1, stale(filepath.Join(dir, "current")))
	}
}
