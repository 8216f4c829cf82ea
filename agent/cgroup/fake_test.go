package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeFS is a plain directory laid out like a cgroup2 hierarchy: every
// cgroup directory has the core interface files and those of the
// controllers listed in its cgroup.controllers. Like the kernel, a new
// cgroup's cgroup.controllers is its parent's cgroup.subtree_control.
type fakeFS struct {
	t    *testing.T
	root string
	// noKill, noFreeze: leave out cgroup.kill / cgroup.freeze (old kernels).
	noKill, noFreeze bool
	// bfq: give io cgroups io.bfq.weight.
	bfq bool
}

var controllerFiles = map[string][]string{
	"cpu":     {"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle"},
	"cpuset":  {"cpuset.cpus", "cpuset.mems"},
	"memory":  {"memory.max", "memory.low", "memory.swap.max", "memory.current", "memory.peak", "memory.swap.current", "memory.stat", "memory.events"},
	"pids":    {"pids.max", "pids.current"},
	"io":      {"io.weight", "io.max"},
	"hugetlb": {"hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max"},
	"rdma":    {"rdma.max"},
}

const allControllers = "cpuset cpu io memory hugetlb pids rdma"

func newFake(t *testing.T, controllers string) *fakeFS {
	f := &fakeFS{t: t, root: t.TempDir()}
	f.populate(f.root, controllers)
	return f
}

func (f *fakeFS) populate(dir, controllers string) {
	f.t.Helper()
	files := map[string]string{
		"cgroup.controllers":     controllers,
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
		"cgroup.events":          "populated 0\nfrozen 0\n",
		"cgroup.type":            "domain",
		"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
	}
	if !f.noKill {
		files["cgroup.kill"] = ""
	}
	if !f.noFreeze {
		files["cgroup.freeze"] = "0"
	}
	for _, c := range strings.Fields(controllers) {
		for _, name := range controllerFiles[c] {
			files[name] = ""
		}
		if c == "io" && f.bfq {
			files["io.bfq.weight"] = ""
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

// mkdir is the kernel's part of mkdir in a cgroup2 hierarchy.
func (f *fakeFS) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	sub, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	// The fake's subtree_control holds what was written ("+a +b").
	f.populate(dir, strings.ReplaceAll(string(sub), "+", ""))
	return nil
}

// cgroup makes a cgroup directory (and its parents) with these controllers.
func (f *fakeFS) cgroup(p, controllers string) string {
	f.t.Helper()
	dir := filepath.Join(f.root, p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	f.populate(dir, controllers)
	return dir
}

func (f *fakeFS) read(p, file string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, p, file))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func (f *fakeFS) write(p, file, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.root, p, file), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// opts points New and Open at the fake.
func (f *fakeFS) opts(extra ...Option) []Option {
	return append([]Option{WithRoot(f.root), func(o *options) {
		o.fsCheck = false
		o.mkdir = f.mkdir
		o.procSelf = filepath.Join(f.root, "proc-self-cgroup")
	}}, extra...)
}
