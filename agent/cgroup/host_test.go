package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
)

// hostRoot finds a cgroup2 hierarchy for the host tier: /sys/fs/cgroup on a
// cgroup v2 host (full is true), else the v2 part of a hybrid host,
// /sys/fs/cgroup/unified, whose controllers are mostly held by v1, so the
// tests there cover everything but the limits.
func hostRoot(t *testing.T) (root string, full bool) {
	t.Helper()
	testtier.RequireRoot(t)
	if checkCgroup2(DefaultRoot) == nil {
		return DefaultRoot, true
	}
	unified := filepath.Join(DefaultRoot, "unified")
	if checkCgroup2(unified) == nil {
		t.Logf("hybrid host: testing on %s (controllers there: %q)", unified, readOr(unified, "cgroup.controllers"))
		return unified, false
	}
	t.Skipf("no cgroup2 hierarchy: %v", checkCgroup2(DefaultRoot))
	return "", false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readOr(dir, file string) string {
	s, err := readFile(dir, file)
	if err != nil {
		return err.Error()
	}
	return s
}

// testBase makes a parent cgroup for one test and removes it (and the
// controllers the test enabled at the root) afterwards.
func testBase(t *testing.T, root string) string {
	t.Helper()
	before, err := readFile(root, "cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/hull-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	t.Cleanup(func() {
		if err := removeTree(filepath.Join(root, base), time.Now().Add(5*time.Second)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		after, _ := readFile(root, "cgroup.subtree_control")
		for _, ctrl := range strings.Fields(after) {
			if !slices.Contains(strings.Fields(before), ctrl) {
				// Best effort: another user may have started using it.
				_ = writeFile(root, "cgroup.subtree_control", "-"+ctrl)
			}
		}
	})
	return base
}

// startCounter starts a shell that writes an increasing counter to a file
// every 20ms, and returns the command and a reader of the counter.
func startCounter(t *testing.T) (*exec.Cmd, func() string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "count")
	cmd := exec.Command("sh", "-c", `i=0; while :; do i=$((i+1)); echo $i > "$0.tmp"; mv "$0.tmp" "$0"; sleep 0.02; done`, out)
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sh: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // may be dead already
		_ = cmd.Wait()
	})
	return cmd, func() string {
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b))
	}
}

func waitChange(read func() string, from string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if v := read(); v != "" && v != from {
			return true
		}
	}
	return false
}

// TestHostLifecycle: create, limits, a process, freeze/thaw, procs, stats,
// kill, delete, on the real hierarchy.
func TestHostLifecycle(t *testing.T) {
	root, full := hostRoot(t)
	base := testBase(t, root)
	c, err := New(base+"/c1", WithRoot(root), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); err != nil {
		t.Fatal(err)
	}
	ctrls := strings.Fields(readOr(c.Dir(), "cgroup.controllers"))
	t.Logf("%s: controllers %q", c.Path(), ctrls)

	limits := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](32)},
	}
	err = c.Apply(limits)
	switch {
	case slices.Contains(ctrls, "memory") && slices.Contains(ctrls, "pids"):
		if err != nil {
			t.Fatal(err)
		}
		if got := readOr(c.Dir(), "memory.max"); got != "67108864" {
			t.Errorf("memory.max = %q", got)
		}
		if got := readOr(c.Dir(), "pids.max"); got != "32" {
			t.Errorf("pids.max = %q", got)
		}
	case full:
		t.Fatalf("cgroup v2 host without memory and pids for %s: Apply = %v", c.Path(), err)
	default:
		if !errors.Is(err, ErrControllerUnavailable) {
			t.Fatalf("Apply without the controllers: %v, want ErrControllerUnavailable", err)
		}
		t.Logf("limits not testable here: %v", err)
	}

	cmd, count := startCounter(t)
	pid := cmd.Process.Pid
	if err := c.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	own, err := ownCgroup(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil || own != c.Path() {
		t.Fatalf("/proc/%d/cgroup says %q (%v), want %q", pid, own, err, c.Path())
	}
	pids, err := c.Procs()
	if err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("Procs = %v, %v; want %d in it", pids, err, pid)
	}
	if !waitChange(count, "", 2*time.Second) {
		t.Fatal("the counter never started")
	}

	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fr, err := c.Frozen(); !fr || err != nil {
		t.Fatalf("Frozen = %v, %v after Freeze", fr, err)
	}
	frozenAt := count()
	if waitChange(count, frozenAt, 300*time.Millisecond) {
		t.Fatalf("counter moved while frozen: %s → %s", frozenAt, count())
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	if fr, _ := c.Frozen(); fr {
		t.Fatal("Frozen after Thaw")
	}
	if !waitChange(count, frozenAt, 2*time.Second) {
		t.Fatalf("counter stuck at %s after Thaw", frozenAt)
	}

	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: cpu %+v pids %+v memory usage %d limit %d", st.CPU, st.Pids, st.Memory.Usage, st.Memory.Limit)
	if st.CPU.UsageUsec == 0 {
		t.Error("cpu.stat usage_usec is 0 for a running shell loop")
	}
	if slices.Contains(ctrls, "pids") && st.Pids.Current == 0 {
		t.Error("pids.current is 0 with a process inside")
	}

	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
		t.Errorf("shell ended with %v, want SIGKILL", err)
	}
	if pids, err := c.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("Procs after Kill = %v, %v", pids, err)
	}

	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s still there after Delete: %v", c.Dir(), err)
	}
	if err := c.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := Open(c.Path(), WithRoot(root)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Delete: %v", err)
	}
}

// TestHostDeleteBusy: Delete refuses a cgroup with a live process, after
// retrying briefly, and names the process.
func TestHostDeleteBusy(t *testing.T) {
	root, _ := hostRoot(t)
	base := testBase(t, root)
	c, err := New(base+"/busy", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := startCounter(t)
	if err := c.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	err = c.Delete()
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), fmt.Sprint(cmd.Process.Pid)) {
		t.Fatalf("Delete of a busy cgroup: %v", err)
	}
	t.Log(err)
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestHostInternalProcesses: a parent holding a process cannot enable
// controllers for the container's cgroup; New still succeeds, and Apply
// names the rule. Needs a controller to enable (hugetlb is one even on
// hybrid hosts that have it).
func TestHostInternalProcesses(t *testing.T) {
	root, _ := hostRoot(t)
	avail := strings.Fields(readOr(root, "cgroup.controllers"))
	var r *specs.LinuxResources
	switch {
	case slices.Contains(avail, "pids"):
		r = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}
	case slices.Contains(avail, "hugetlb") && exists("/sys/kernel/mm/hugepages/hugepages-2048kB"):
		r = &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}}}
	default:
		t.Skipf("no pids or hugetlb controller in %s (%q): nothing to enable", root, avail)
	}
	base := testBase(t, root)
	parent, err := New(base+"/parent", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := startCounter(t)
	if err := parent.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c, err := New(base+"/parent/c", WithRoot(root))
	if err != nil {
		t.Fatalf("New under a busy parent: %v", err)
	}
	err = c.Apply(r)
	if !errors.Is(err, ErrControllerUnavailable) || !errors.Is(err, ErrInternalProcesses) {
		t.Fatalf("Apply under a busy parent: %v, want the no-internal-processes rule", err)
	}
	t.Log(err)
	// The child stays an ordinary domain cgroup that can hold the
	// container, only without limits.
	if typ := readOr(c.Dir(), "cgroup.type"); typ != "domain" {
		t.Errorf("child cgroup.type = %q, want domain", typ)
	}
	child, _ := startCounter(t)
	if err := c.AddProc(child.Process.Pid); err != nil {
		t.Errorf("AddProc under a busy parent: %v", err)
	}
	if err := parent.Kill(); err != nil {
		t.Fatal(err)
	}
}
