package vmsandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/runtime"
)

const envMountsChild = "HULL_TEST_MOUNTS_CHILD" // the state dir, in the child

// mountsSpec binds a writable directory, a read-only file and a device
// node; the directories are under base.
func mountsSpec(base string) *specs.Spec {
	return &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/data", Source: filepath.Join(base, "data"), Options: []string{"rbind", "rw"}},
		{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(base, "hosts"), Options: []string{"ro"}},
		{Destination: "/n", Source: "/dev/null", Options: []string{"bind"}},
		{Destination: "/rr", Source: filepath.Join(base, "rr"), Options: []string{"rbind", "ro"}},
	}}
}

// TestMountsShare: in a mount namespace of its own (as `hull create`
// starts the VMM), the sources are bound on the share's entries, the
// read-only one refuses writes; the host's namespace never sees them, so
// removing the state directory leaves the sources alone. Without its own
// namespace the VMM refuses host binds; with none it just makes the share.
func TestMountsShare(t *testing.T) {
	testtier.RequireRoot(t)
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "hosts"), []byte("10.0.0.7 db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// rr has a mount below it (a tmpfs) that a read-only rbind makes
	// read-only too.
	sub := filepath.Join(base, "rr", "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(sub, unix.MNT_DETACH)
	state := filepath.Join(base, "state")
	os.Mkdir(state, 0o700)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMountsShareChild$", "-test.v")
	cmd.Env = append(os.Environ(), envMountsChild+"="+state)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMountsShareChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(base, "data", "out")); string(got) != "through the share\n" {
		t.Errorf("the write through the share's entry: %q", got)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), state) {
		t.Errorf("the host's namespace has the VMM's binds:\n%s", mi)
	}
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "data", "out")); err != nil {
		t.Errorf("removing the state directory reached into a source: %v", err)
	}

	// In the host's namespace: refused, nothing mounted.
	state2 := filepath.Join(base, "state2")
	os.Mkdir(state2, 0o700)
	if _, _, err := mountsShare(state2, mountsSpec(base), base, false); err == nil || !strings.Contains(err.Error(), "mount namespace") {
		t.Errorf("host binds without a namespace of its own: %v", err)
	}
	share, hm, err := mountsShare(state2, &specs.Spec{}, base, false)
	if err != nil || len(hm) != 0 || share.Path != filepath.Join(state2, runtime.MountsDir) || !share.ReadOnly || share.Tag != runtime.MountsTag {
		t.Errorf("no binds: %+v %v %v: want a read-only share", share, hm, err)
	}
}

// TestMountsShareChild is TestMountsShare's VMM stand-in, run in a mount
// namespace of its own.
func TestMountsShareChild(t *testing.T) {
	state := os.Getenv(envMountsChild)
	if state == "" {
		t.Skip("the helper of TestMountsShare")
	}
	base := filepath.Dir(state)
	sh, hm, err := mountsShare(state, mountsSpec(base), base, true)
	if err != nil {
		t.Fatal(err)
	}
	share := sh.Path
	if sh.ReadOnly {
		t.Error("a share with writable binds is a read-only device")
	}
	// Only the writable bind takes writes: not the share, not an entry's
	// directory.
	for _, p := range []string{"new", "1/new"} {
		if err := os.WriteFile(filepath.Join(share, p), nil, 0o644); !errors.Is(err, unix.EROFS) {
			t.Errorf("writing %s in the share: %v, want EROFS", p, err)
		}
	}
	if err := os.Mkdir(filepath.Join(share, "d"), 0o755); !errors.Is(err, unix.EROFS) {
		t.Errorf("mkdir in the share: %v, want EROFS", err)
	}
	want := []proto.HostMount{{Index: 1, Name: "1/data"}, {Index: 2, Name: "2/hosts"}, {Index: 4, Name: "4/rr"}}
	if len(hm) != 3 || hm[0] != want[0] || hm[1] != want[1] || hm[2] != want[2] {
		t.Fatalf("host mounts %+v, want %+v", hm, want)
	}
	if err := os.WriteFile(filepath.Join(share, "1", "data", "out"), []byte("through the share\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(share, "2", "hosts")); string(got) != "10.0.0.7 db\n" {
		t.Errorf("the read-only file's entry: %q", got)
	}
	err = os.WriteFile(filepath.Join(share, "2", "hosts"), []byte("x"), 0o644)
	if !errors.Is(err, unix.EROFS) {
		t.Errorf("writing the read-only entry: %v, want EROFS", err)
	}
	var top, below unix.Stat_t
	if unix.Stat(filepath.Join(share, "4/rr"), &top) != nil || unix.Stat(filepath.Join(share, "4/rr/sub"), &below) != nil || top.Dev == below.Dev {
		t.Fatal("the rbind's entry does not have the tmpfs below it")
	}
	for _, p := range []string{"4/rr/f", "4/rr/sub/f"} {
		err := os.WriteFile(filepath.Join(share, p), []byte("x"), 0o644)
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("writing %s in the read-only rbind: %v, want EROFS", p, err)
		}
	}
}
