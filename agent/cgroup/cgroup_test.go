package cgroup

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func ptr[T any](v T) *T { return &v }

func TestCPUWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{
		0: 0, 1: 1, 2: 1, 1024: 100, 262144: 10000, 1 << 20: 10000,
	} {
		if got := CPUWeight(shares); got != want {
			t.Errorf("CPUWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	prev := uint64(1)
	for s := uint64(2); s <= 262144; s++ {
		w := CPUWeight(s)
		if w < prev || w < 1 || w > 10000 {
			t.Fatalf("CPUWeight(%d) = %d after %d: not monotonic in [1, 10000]", s, w, prev)
		}
		prev = w
	}
}

func TestSwapMax(t *testing.T) {
	for _, tc := range []struct {
		swap, limit, want int64
		err               bool
	}{
		{0, 0, 0, false},
		{0, 1000, 0, false},       // swap unset
		{-1, 1000, -1, false},     // unlimited swap
		{0, -1, -1, false},        // unlimited memory: unlimited swap too
		{2000, -1, 2000, false},   // unlimited memory, swap as is
		{3000, 1000, 2000, false}, // memory+swap → swap
		{1000, 1000, 0, false},    // no swap
		{500, 1000, 0, true},      // below the memory limit
		{1000, 0, 0, true},        // swap without memory limit
		{1000, -5, 0, true},       // nonsense limit
	} {
		got, err := SwapMax(tc.swap, tc.limit)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("SwapMax(%d, %d) = %d, %v; want %d, error %v", tc.swap, tc.limit, got, err, tc.want, tc.err)
		}
	}
}

func TestIOWeightAndCPUMax(t *testing.T) {
	for in, want := range map[uint16]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := IOWeight(in); got != want {
			t.Errorf("IOWeight(%d) = %d, want %d", in, got, want)
		}
	}
	for _, tc := range []struct {
		quota  int64
		period uint64
		want   string
	}{
		{0, 0, ""}, {50000, 0, "50000"}, {-1, 100000, "max 100000"}, {50000, 100000, "50000 100000"}, {-1, 0, "max"},
	} {
		if got := CPUMax(tc.quota, tc.period); got != tc.want {
			t.Errorf("CPUMax(%d, %d) = %q, want %q", tc.quota, tc.period, got, tc.want)
		}
	}
}

func TestNewCreatesAndEnables(t *testing.T) {
	f := newFake(t, allControllers)
	f.write("/", "cgroup.subtree_control", "cpu memory") // already on at the root
	c, err := New("/hull/c1", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != "/hull/c1" || c.Dir() != filepath.Join(f.root, "hull", "c1") {
		t.Errorf("Path %q Dir %q", c.Path(), c.Dir())
	}
	if got, want := f.read("/", "cgroup.subtree_control"), "+cpuset +io +hugetlb +pids +rdma"; got != want {
		t.Errorf("root subtree_control: wrote %q, want only the missing ones %q", got, want)
	}
	if got, want := f.read("/hull", "cgroup.subtree_control"), "+cpuset +io +hugetlb +pids +rdma"; got != want {
		t.Errorf("/hull subtree_control: %q, want %q", got, want)
	}
	if got := f.read("/hull/c1", "cgroup.subtree_control"); got != "" {
		t.Errorf("the leaf delegates %q: it could not hold processes", got)
	}
	// New on an existing cgroup is fine; Open finds it; Open of a missing
	// one fails.
	if _, err := New("/hull/c1", f.opts()...); err != nil {
		t.Errorf("New on an existing cgroup: %v", err)
	}
	if _, err := Open("/hull/c1", f.opts()...); err != nil {
		t.Errorf("Open: %v", err)
	}
	if _, err := Open("/hull/missing", f.opts()...); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
}

func TestNewRelativeAndSystemd(t *testing.T) {
	f := newFake(t, "memory pids")
	f.cgroup("/user.slice", "memory pids")
	f.cgroup("/user.slice/session-1.scope", "memory pids")
	f.write("/", "proc-self-cgroup", "0::/user.slice/session-1.scope\n")
	c, err := New("hull/c2", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != "/user.slice/hull/c2" {
		t.Errorf("relative path resolved to %q", c.Path())
	}
	c, err = New("system.slice:hull:c3", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != "/system.slice/hull-c3.scope" {
		t.Errorf("systemd path resolved to %q", c.Path())
	}
}

func TestNewCleansUpOnFailure(t *testing.T) {
	f := newFake(t, "memory")
	opts := append(f.opts(), func(o *options) {
		o.mkdir = func(dir string) error {
			// Create the directory but none of its files: reading the
			// new parent's cgroup.controllers then fails.
			return os.Mkdir(dir, 0o755)
		}
	})
	if _, err := New("/a/b/c", opts...); err == nil {
		t.Fatal("New succeeded without interface files")
	}
	if _, err := os.Stat(filepath.Join(f.root, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New left /a behind after failing: %v", err)
	}
}

func TestApply(t *testing.T) {
	f := newFake(t, allControllers)
	c, err := New("/hull/c1", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](96 << 20), Reservation: ptr[int64](32 << 20),
			Swappiness: ptr[uint64](10), Kernel: ptr[int64](1 << 20), DisableOOMKiller: ptr(true)},
		CPU: &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			Burst: ptr[uint64](1000), Idle: ptr[int64](0), Cpus: "0-1", Mems: "0"},
		Pids: &specs.LinuxPids{Limit: ptr[int64](32)},
		BlockIO: &specs.LinuxBlockIO{
			Weight:                ptr[uint16](500),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1 << 20}},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}},
		Rdma:           map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr[uint32](3), HcaObjects: ptr[uint32](100)}},
		Unified:        map[string]string{"memory.high": "50331648", "cgroup.max.descendants": "10"},
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, // not enforced, not an error
	}
	r.BlockIO.ThrottleReadBpsDevice[0].Major, r.BlockIO.ThrottleReadBpsDevice[0].Minor = 8, 0
	f.write("/hull/c1", "memory.high", "")
	f.write("/hull/c1", "cgroup.max.descendants", "")
	if err := c.Apply(r); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max":             "67108864",
		"memory.swap.max":        "33554432",
		"memory.low":             "33554432",
		"cpu.weight":             "100",
		"cpu.max":                "50000 100000",
		"cpu.max.burst":          "1000",
		"cpu.idle":               "0",
		"cpuset.cpus":            "0-1",
		"cpuset.mems":            "0",
		"pids.max":               "32",
		"io.weight":              "4950",
		"io.max":                 "8:0 rbps=1048576",
		"hugetlb.2MB.max":        "8388608",
		"hugetlb.2MB.rsvd.max":   "8388608",
		"rdma.max":               "mlx5_0 hca_handle=3 hca_object=100",
		"memory.high":            "50331648",
		"cgroup.max.descendants": "10",
	} {
		if got := f.read("/hull/c1", file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	// Unlimited and special values.
	r = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](-1)},
		CPU:    &specs.LinuxCPU{Quota: ptr[int64](-1), Period: ptr[uint64](250000)},
	}
	if err := c.Apply(r); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"memory.max": "max", "memory.swap.max": "max", "pids.max": "max", "cpu.max": "max 250000"} {
		if got := f.read("/hull/c1", file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// swap == limit: no swap; pids 0 is a real limit.
	r = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 30), Swap: ptr[int64](1 << 30)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](0)},
	}
	if err := c.Apply(r); err != nil {
		t.Fatal(err)
	}
	if got := f.read("/hull/c1", "memory.swap.max"); got != "0" {
		t.Errorf("memory.swap.max = %q, want 0", got)
	}
	if got := f.read("/hull/c1", "pids.max"); got != "0" {
		t.Errorf("pids.max = %q, want 0", got)
	}
	if err := c.Apply(nil); err != nil {
		t.Errorf("Apply(nil) = %v", err)
	}
}

func TestApplyBFQAndErrors(t *testing.T) {
	f := newFake(t, "")
	f.bfq = true
	f.cgroup("/c", "io memory")
	c, err := Open("/c", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](500),
		WeightDevice: []specs.LinuxWeightDevice{{Weight: ptr[uint16](200)}}}}); err != nil {
		t.Fatal(err)
	}
	if got := f.read("/c", "io.bfq.weight"); got != "0:0 200" {
		t.Errorf("io.bfq.weight = %q (BFQ takes v1 weights as they are)", got)
	}

	for name, r := range map[string]*specs.LinuxResources{
		"realtime":      {CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}},
		"swap below":    {Memory: &specs.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](50)}},
		"unified slash": {Unified: map[string]string{"../memory.max": "1"}},
		"unified form":  {Unified: map[string]string{"nodot": "1"}},
		"hugetlb size":  {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../x", Limit: 1}}},
	} {
		if err := c.Apply(r); err == nil || errors.Is(err, ErrControllerUnavailable) {
			t.Errorf("%s: Apply = %v, want a plain error", name, err)
		}
	}
	// checkBeforeUpdate compares with memory.current.
	f.write("/c", "memory.current", "1000000\n")
	err = c.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](4096), CheckBeforeUpdate: ptr(true)}})
	if err == nil {
		t.Error("checkBeforeUpdate let a limit below usage through")
	}
	// Missing controllers.
	for name, r := range map[string]*specs.LinuxResources{
		"pids":    {Pids: &specs.LinuxPids{Limit: ptr[int64](1)}},
		"cpu":     {CPU: &specs.LinuxCPU{Shares: ptr[uint64](512)}},
		"cpuset":  {CPU: &specs.LinuxCPU{Cpus: "0"}},
		"hugetlb": {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}},
		"unified": {Unified: map[string]string{"pids.max": "5"}},
	} {
		err := c.Apply(r)
		var ce *ControllerError
		if !errors.Is(err, ErrControllerUnavailable) || !errors.As(err, &ce) {
			t.Errorf("%s: Apply = %v, want a ControllerError", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}

// TestInternalProcesses: when enabling a controller in a parent fails
// with EBUSY while the parent holds processes, Apply says so.
func TestInternalProcesses(t *testing.T) {
	f := newFake(t, "memory pids")
	f.cgroup("/busy", "memory pids")
	f.write("/busy", "cgroup.procs", "42\n43\n")
	f.cgroup("/busy/c", "memory")
	c, err := Open("/busy/c", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	c.recordFailures(filepath.Join(f.root, "busy"), map[string]error{
		"pids": &fs.PathError{Op: "write", Path: "cgroup.subtree_control", Err: unix.EBUSY},
		"rdma": &fs.PathError{Op: "write", Path: "cgroup.subtree_control", Err: unix.EACCES},
	})
	err = c.Apply(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}})
	var ie *InternalProcessesError
	if !errors.Is(err, ErrControllerUnavailable) || !errors.Is(err, ErrInternalProcesses) || !errors.As(err, &ie) {
		t.Fatalf("Apply = %v, want ControllerError for the no-internal-processes rule", err)
	}
	if ie.Cgroup != "/busy" || len(ie.Pids) != 2 {
		t.Errorf("error names %q %v", ie.Cgroup, ie.Pids)
	}
	t.Log(err)
	if errors.Is(c.unavailable["rdma"], ErrInternalProcesses) {
		t.Error("EACCES reported as the no-internal-processes rule")
	}
	// Memory was enabled: unaffected.
	if err := c.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}}); err != nil {
		t.Error(err)
	}
}

func TestFreezeThawFake(t *testing.T) {
	f := newFake(t, "")
	f.cgroup("/c", "")
	c, err := Open("/c", f.opts(WithTimeout(300*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	// The "kernel" reports frozen a little later.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		f.write("/c", "cgroup.events", "populated 1\nfrozen 1\n")
	}()
	if err := c.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	<-done
	if got := f.read("/c", "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q", got)
	}
	if fr, err := c.Frozen(); !fr || err != nil {
		t.Errorf("Frozen = %v, %v", fr, err)
	}
	// Thaw never acknowledged: timeout.
	start := time.Now()
	err = c.Thaw()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Thaw without the kernel's answer: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("timeout took %v, want about 300ms", d)
	}
	// Freeze never acknowledged: timeout, and thawed again.
	f.write("/c", "cgroup.events", "populated 1\nfrozen 0\n")
	if err := c.Freeze(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Freeze: %v, want ErrTimeout", err)
	}
	if got := f.read("/c", "cgroup.freeze"); got != "0" {
		t.Errorf("after a failed Freeze cgroup.freeze = %q, want 0", got)
	}

	g := newFake(t, "")
	g.noFreeze = true
	g.cgroup("/old", "")
	c, err = Open("/old", g.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Freeze(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Freeze without cgroup.freeze: %v, want ErrUnsupported", err)
	}
}

func TestKillFake(t *testing.T) {
	f := newFake(t, "")
	f.cgroup("/c", "")
	f.write("/c", "cgroup.events", "populated 1\nfrozen 0\n")
	c, err := Open("/c", f.opts(WithTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.write("/c", "cgroup.events", "populated 0\nfrozen 0\n")
	}()
	if err := c.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if got := f.read("/c", "cgroup.kill"); got != "1" {
		t.Errorf("cgroup.kill = %q", got)
	}
}

// TestKillEachFake: without cgroup.kill, Kill signals every listed process
// itself (here a child of the test, so no root is needed).
func TestKillEachFake(t *testing.T) {
	f := newFake(t, "")
	f.noKill = true
	f.cgroup("/c", "")
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	f.write("/c", "cgroup.procs", itoa(cmd.Process.Pid)+"\n")
	f.write("/c", "cgroup.events", "populated 1\nfrozen 0\n")
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		// The kernel's part: the process left the cgroup.
		f.write("/c", "cgroup.procs", "")
		f.write("/c", "cgroup.events", "populated 0\nfrozen 0\n")
		exited <- err
	}()
	c, err := Open("/c", f.opts(WithTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	err = <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
		t.Errorf("child ended with %v, want SIGKILL", err)
	}
}

func TestProcsAddProcFake(t *testing.T) {
	f := newFake(t, "")
	f.cgroup("/c", "")
	f.cgroup("/c/sub", "")
	f.write("/c", "cgroup.procs", "30\n10\n")
	f.write("/c/sub", "cgroup.procs", "20\n10\n")
	c, err := Open("/c", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := c.Procs()
	if err != nil || len(pids) != 3 || pids[0] != 10 || pids[1] != 20 || pids[2] != 30 {
		t.Errorf("Procs = %v, %v; want [10 20 30]", pids, err)
	}
	if err := c.AddProc(1234); err != nil {
		t.Fatal(err)
	}
	if got := f.read("/c", "cgroup.procs"); got != "1234" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestStatsFake(t *testing.T) {
	f := newFake(t, "")
	f.cgroup("/c", "memory pids")
	f.write("/c", "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 300\n")
	f.write("/c", "memory.current", "4096\n")
	f.write("/c", "memory.max", "max\n")
	f.write("/c", "memory.peak", "8192\n")
	f.write("/c", "memory.swap.current", "0\n")
	f.write("/c", "memory.swap.max", "1024\n")
	f.write("/c", "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
	f.write("/c", "memory.stat", "anon 1024\nfile 2048\n")
	f.write("/c", "pids.current", "3\n")
	f.write("/c", "pids.max", "max\n")
	c, err := Open("/c", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		CPU:    CPUStats{UsageUsec: 1500, UserUsec: 1000, SystemUsec: 500, NrPeriods: 7, NrThrottled: 2, ThrottledUsec: 300},
		Memory: MemoryStats{Usage: 4096, Limit: math.MaxUint64, Peak: 8192, SwapLimit: 1024, OOMKills: 1},
		Pids:   PidsStats{Current: 3, Limit: 0},
	}
	want.Memory.Stat = s.Memory.Stat
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("Stats = %+v\nwant %+v", *s, want)
	}
	if s.Memory.Stat["file"] != 2048 {
		t.Errorf("memory.stat not parsed: %v", s.Memory.Stat)
	}
	// Without controllers: zeros, no error.
	f.cgroup("/bare", "")
	c, _ = Open("/bare", f.opts()...)
	if s, err := c.Stats(); err != nil || s.Memory.Usage != 0 {
		t.Errorf("bare Stats = %+v, %v", s, err)
	}
	f.write("/c", "pids.current", "lots\n")
	c, _ = Open("/c", f.opts()...)
	if _, err := c.Stats(); err == nil {
		t.Error("unparsable pids.current: no error")
	}
}

func TestDeleteFake(t *testing.T) {
	f := newFake(t, "")
	// rmdir on a real cgroup ignores its interface files; here the
	// directories are empty.
	for _, d := range []string{"c/a/x", "c/b"} {
		if err := os.MkdirAll(filepath.Join(f.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open("/c", f.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "c")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete left %v", err)
	}
	if err := c.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := c.Kill(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Kill after Delete: %v, want ErrNotExist", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
