package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options describe a container to Create.
type Options struct {
	// ID and Bundle are the container's id and bundle directory
	// (absolute); Spec.Root.Path is relative to Bundle unless absolute.
	ID, Bundle string
	// Spec is the config, validated by the runtime (process present,
	// ociVersion supported). Create does not change it.
	Spec *specs.Spec
	// Stdin, Stdout and Stderr become the container process's fds 0-2
	// (nil: /dev/null). With Terminal they are all the pty's slave.
	Stdin, Stdout, Stderr *os.File
	// Terminal makes Stdin the container's controlling terminal (setsid +
	// TIOCSCTTY) and bind-mounts it on /dev/console.
	Terminal bool
	// ExtraFiles (runc --preserve-fds) become fds 3, 4, ... in the container.
	ExtraFiles []*os.File
	// InitCommand starts the init half, e.g. {"/proc/self/exe", "init"};
	// that program calls InitMain first thing (see IsInit).
	InitCommand []string
	// State returns the runtime-spec state JSON that hooks read on stdin,
	// for a status ("creating", "created") and the init's pid. nil: a
	// minimal specs.State built from ID, Bundle and Spec.Annotations.
	State func(status string, pid int) []byte
	// CreateRuntime is called in the parent at the createRuntime point:
	// the namespaces exist and the mounts are done, before pivot_root. The
	// caller runs the prestart and createRuntime hooks there (and may put
	// the init into its cgroup). An error aborts Create.
	CreateRuntime func(pid int) error
	// Cgroup, if set, is an open cgroup v2 directory the init is started
	// in (clone3 CLONE_INTO_CGROUP), so that a new cgroup namespace is
	// rooted there, as runc does.
	Cgroup *os.File
	// NoPivotRoot switches to the root with MS_MOVE + chroot instead of
	// pivot_root (runc --no-pivot). The init does so by itself where
	// pivot_root cannot work: on an initramfs root.
	NoPivotRoot bool
	// Reaper, if set, collects the exit statuses of the processes this
	// package starts (see Reaper); nil: the package waits for them itself.
	Reaper Reaper
	// Debugf receives notes about things ignored or worked around
	// (apparmor, selinux, unknown capabilities); nil: dropped.
	Debugf func(format string, args ...any)
}

// Reaper is how a process that reaps every child (PID 1 of a guest, a
// child subreaper) hands this package the exit statuses of the
// processes it starts, instead of this package calling wait4 on them.
type Reaper interface {
	// Start calls start, which starts one child and returns its pid,
	// and returns a channel on which the reaper sends that child's wait
	// status once it has reaped it. No child may be reaped between
	// start's return and the channel's registration (hold the reaping
	// lock across both).
	Start(start func() (pid int, err error)) (pid int, status <-chan unix.WaitStatus, err error)
}

// plan is what Create derives from Options before starting anything.
type plan struct {
	ns     nsPlan
	rootfs string // absolute, symlinks resolved
	argv   []string
}

// validate checks what the init would otherwise trip on half-way, and
// the features this package refuses (ErrUnsupported).
func (o *Options) validate() (plan, error) {
	var p plan
	s := o.Spec
	switch {
	case s == nil:
		return p, errors.New("no spec")
	case s.Process == nil || len(s.Process.Args) == 0:
		return p, errors.New("process.args is empty")
	case s.Root == nil || s.Root.Path == "":
		return p, errors.New("root.path is empty")
	case len(o.InitCommand) == 0:
		return p, errors.New("no InitCommand to start the init with")
	case !filepath.IsAbs(o.Bundle):
		return p, fmt.Errorf("bundle %q is not an absolute path", o.Bundle)
	}
	lx := s.Linux
	if lx == nil {
		lx = &specs.Linux{}
	}
	var err error
	if p.ns, err = planNamespaces(lx.Namespaces); err != nil {
		return p, err
	}
	if err := checkSpec(s, lx, p.ns); err != nil {
		return p, err
	}
	if _, err := parseRlimits(s.Process.Rlimits); err != nil {
		return p, err
	}
	for _, m := range s.Mounts {
		if _, err := parseMountOptions(m.Options); err != nil {
			return p, fmt.Errorf("mount %s: %w", m.Destination, err)
		}
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(o.Bundle, root)
	}
	if p.rootfs, err = filepath.EvalSymlinks(root); err != nil {
		return p, fmt.Errorf("root.path: %w", err)
	}
	if fi, err := os.Stat(p.rootfs); err != nil {
		return p, fmt.Errorf("root.path: %w", err)
	} else if !fi.IsDir() {
		return p, fmt.Errorf("root.path %s is not a directory", p.rootfs)
	}
	p.argv = append([]string(nil), o.InitCommand...)
	if p.argv[0], err = initPath(p.argv[0]); err != nil {
		return p, err
	}
	return p, nil
}

// checkSpec is validate's part that needs no file system.
func checkSpec(s *specs.Spec, lx *specs.Linux, ns nsPlan) error {
	if !ns.has[specs.MountNamespace] {
		return errors.New("linux.namespaces has no mount namespace: the container's mounts would land on the host")
	}
	if s.Hostname != "" && !ns.has[specs.UTSNamespace] {
		return errors.New("unable to set hostname without a private UTS namespace")
	}
	if s.Domainname != "" && !ns.has[specs.UTSNamespace] {
		return errors.New("unable to set domainname without a private UTS namespace")
	}
	userNS := ns.created[specs.UserNamespace]
	if !userNS && (len(lx.UIDMappings) > 0 || len(lx.GIDMappings) > 0) {
		return errors.New("linux.uidMappings/gidMappings given without a new user namespace")
	}
	if userNS && (len(lx.UIDMappings) == 0 || len(lx.GIDMappings) == 0) {
		return errors.New("a new user namespace needs linux.uidMappings and linux.gidMappings")
	}
	if lx.RootfsPropagation != "" {
		if _, ok := parsePropagation(lx.RootfsPropagation); !ok {
			return fmt.Errorf("linux.rootfsPropagation: unknown value %q", lx.RootfsPropagation)
		}
	}
	switch {
	case len(lx.TimeOffsets) > 0:
		return unsupported("linux.timeOffsets")
	case len(lx.NetDevices) > 0:
		return unsupported("linux.netDevices")
	case lx.MemoryPolicy != nil:
		return unsupported("linux.memoryPolicy")
	}
	if lx.Personality != nil {
		if _, err := personalityValue(lx.Personality); err != nil {
			return err
		}
	}
	for _, m := range s.Mounts {
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return unsupported("mount %s: uidMappings/gidMappings (idmapped mounts)", m.Destination)
		}
	}
	return checkProcess(s.Process)
}

// checkProcess refuses the process fields this package does not apply.
func checkProcess(p *specs.Process) error {
	switch {
	case p.Scheduler != nil:
		return unsupported("process.scheduler")
	case p.ExecCPUAffinity != nil:
		return unsupported("process.execCPUAffinity")
	}
	if p.IOPriority != nil {
		if _, err := ioPriorityValue(p.IOPriority); err != nil {
			return err
		}
	}
	return nil
}

// initPath makes InitCommand[0] usable after the spawning thread has
// joined other namespaces: a bare name is looked up in PATH now.
func initPath(name string) (string, error) {
	if filepath.Base(name) != name {
		return name, nil
	}
	p, err := lookPath(name, os.Environ())
	if err != nil {
		return "", fmt.Errorf("init command: %w", err)
	}
	return p, nil
}

// defaultState is Options.State when the caller gives none.
func (o *Options) state(status string, pid int) []byte {
	if o.State != nil {
		return o.State(status, pid)
	}
	st := specs.State{Version: specs.Version, ID: o.ID, Status: specs.ContainerState(status),
		Pid: pid, Bundle: o.Bundle}
	if o.Spec != nil {
		st.Annotations = o.Spec.Annotations
	}
	b, err := json.Marshal(&st)
	if err != nil {
		return []byte("{}") // cannot happen: plain strings and ints
	}
	return b
}

// The /dev the container gets when its config mounts none there (runc's
// default spec has the same three).
var (
	defaultDev = specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}}
	defaultDevPts = specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
		Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}
	defaultDevShm = specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
		Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}
)

// withDefaultMounts adds a tmpfs on /dev, devpts on /dev/pts and a tmpfs
// on /dev/shm where the config mounts nothing there, /dev first and the
// other two right after it.
func withDefaultMounts(ms []specs.Mount) []specs.Mount {
	has := map[string]bool{}
	for _, m := range ms {
		has[path.Clean("/"+m.Destination)] = true
	}
	var extra []specs.Mount
	if !has["/dev/pts"] {
		extra = append(extra, defaultDevPts)
	}
	if !has["/dev/shm"] {
		extra = append(extra, defaultDevShm)
	}
	out := make([]specs.Mount, 0, len(ms)+3)
	if !has["/dev"] {
		out = append(out, defaultDev)
		out = append(out, extra...)
		return append(out, ms...)
	}
	for _, m := range ms {
		out = append(out, m)
		if path.Clean("/"+m.Destination) == "/dev" {
			out = append(out, extra...)
			extra = nil
		}
	}
	return out
}
