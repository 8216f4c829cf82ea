package container

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsKind is one namespace type: its spec name, clone flag and the name of
// its file under /proc/<pid>/ns.
type nsKind struct {
	typ  specs.LinuxNamespaceType
	flag uintptr
	proc string
}

// nsKinds in the order the spawning thread joins them.
var nsKinds = []nsKind{
	{specs.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{specs.TimeNamespace, unix.CLONE_NEWTIME, "time"},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt"},
}

func kindOf(t specs.LinuxNamespaceType) (nsKind, bool) {
	for _, k := range nsKinds {
		if k.typ == t {
			return k, true
		}
	}
	return nsKind{}, false
}

// nsPath is a namespace joined by path.
type nsPath struct {
	kind nsKind
	path string
}

// nsPlan is what linux.namespaces asks for.
//
// Namespaces without a path are created by the clone that starts the
// init (cloneFlags). Namespaces with a path are joined with setns: the
// pid, network, ipc, uts and cgroup ones by the parent's spawning thread
// just before the clone (so the child is born in them, and a pid
// namespace needs no extra fork), the mount namespace by the init itself
// (mountPath), because the init's program must still be found in the
// agent's mount namespace. Joining a user or time namespace by path needs
// a single-threaded caller, which a Go program never is: unsupported.
type nsPlan struct {
	cloneFlags uintptr
	join       []nsPath
	mountPath  string
	has        map[specs.LinuxNamespaceType]bool // given at all
	created    map[specs.LinuxNamespaceType]bool // given without a path
}

func planNamespaces(list []specs.LinuxNamespace) (nsPlan, error) {
	p := nsPlan{
		has:     map[specs.LinuxNamespaceType]bool{},
		created: map[specs.LinuxNamespaceType]bool{},
	}
	for _, ns := range list {
		k, ok := kindOf(ns.Type)
		if !ok {
			return nsPlan{}, fmt.Errorf("linux.namespaces: unknown namespace type %q", ns.Type)
		}
		if p.has[ns.Type] {
			return nsPlan{}, fmt.Errorf("linux.namespaces: namespace type %q given twice", ns.Type)
		}
		p.has[ns.Type] = true
		if ns.Path == "" {
			p.created[ns.Type] = true
			p.cloneFlags |= k.flag
			continue
		}
		if !filepath.IsAbs(ns.Path) {
			return nsPlan{}, fmt.Errorf("linux.namespaces: %s namespace path %q is not absolute", ns.Type, ns.Path)
		}
		switch ns.Type {
		case specs.UserNamespace, specs.TimeNamespace:
			return nsPlan{}, unsupported("joining a %s namespace by path (%s): setns needs a single-threaded process", ns.Type, ns.Path)
		case specs.MountNamespace:
			p.mountPath = ns.Path
		default:
			p.join = append(p.join, nsPath{k, ns.Path})
		}
	}
	return p, nil
}

// nsFile is an open namespace file the spawning thread joins.
type nsFile struct {
	kind nsKind
	f    *os.File
}

// openJoins opens the namespace files of plan.join.
func openJoins(join []nsPath) ([]nsFile, error) {
	var out []nsFile
	for _, j := range join {
		f, err := os.Open(j.path)
		if err != nil {
			closeNSFiles(out)
			return nil, fmt.Errorf("open %s namespace: %w", j.kind.typ, err)
		}
		out = append(out, nsFile{j.kind, f})
	}
	return out, nil
}

func closeNSFiles(fs []nsFile) {
	for _, f := range fs {
		_ = f.f.Close() // read-only namespace handle
	}
}

// joinOnThisThread setns()es the calling thread into each namespace that
// differs from its own. The caller has locked the OS thread and never
// unlocks it (the thread is discarded with its namespaces).
func joinOnThisThread(files []nsFile) error {
	for _, n := range files {
		same, err := sameFile(n.f, "/proc/thread-self/ns/"+n.kind.proc)
		if err == nil && same {
			continue
		}
		if err := unix.Setns(int(n.f.Fd()), int(n.kind.flag)); err != nil {
			return fmt.Errorf("join %s namespace %s: setns: %w", n.kind.typ, n.f.Name(), err)
		}
	}
	return nil
}

// sameFile reports whether f and the file at path are the same inode.
func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// nsID identifies a namespace (the inode of its /proc/<pid>/ns file).
type nsID struct{ dev, ino uint64 }

func nsOf(pid string, kind string) (nsID, error) {
	fi, err := os.Stat("/proc/" + pid + "/ns/" + kind)
	if err != nil {
		return nsID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nsID{}, fmt.Errorf("stat %s: no inode", fi.Name())
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}
