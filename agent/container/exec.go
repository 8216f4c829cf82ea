package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Process is a process Exec started in a container.
type Process struct {
	Pid int // in the caller's pid namespace
	p   *proc
}

// Wait waits for the process to exit and returns its wait status. It may
// be called any number of times.
func (p *Process) Wait() (unix.WaitStatus, error) { return p.p.wait() }

// Signal sends sig to the process; an error wrapping ErrExited once it
// has exited.
func (p *Process) Signal(sig unix.Signal) error { return p.p.signal(sig) }

// execNamespaces are the namespaces an Exec'd process shares with the
// init, in the order the spawning thread joins them. The mount
// namespace is joined by the new process itself; user and time
// namespaces cannot be joined by a Go program.
var execNamespaces = []string{"pid", "net", "ipc", "uts", "cgroup"}

// Exec starts p in the running container (runc exec): in the init's
// namespaces, root and cgroup, with p's cwd, env, user, capabilities,
// rlimits, no_new_privileges, apparmor profile (ignored) and the
// container's seccomp filter. It returns once p.Args[0] has been exec'd,
// or the error that stopped it.
func (c *Container) Exec(p *specs.Process, stdin, stdout, stderr *os.File, terminal bool) (*Process, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, errors.New("exec: process.args is empty")
	}
	if err := checkProcess(p); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if _, err := parseRlimits(p.Rlimits); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if c.init.exited() {
		return nil, fmt.Errorf("exec: container %s: %w", c.id, ErrExited)
	}
	init := strconv.Itoa(c.init.pid)
	for _, k := range []string{"user", "time"} {
		theirs, err1 := nsOf(init, k)
		ours, err2 := nsOf("self", k)
		if err1 == nil && err2 == nil && theirs != ours {
			return nil, unsupported("exec into a container with its own %s namespace (setns needs a single-threaded process)", k)
		}
	}
	var joins []nsFile
	defer func() { closeNSFiles(joins) }()
	for _, k := range execNamespaces {
		f, err := os.Open("/proc/" + init + "/ns/" + k)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && k == "cgroup" {
				continue // a kernel without cgroup namespaces
			}
			return nil, fmt.Errorf("exec: %w", err)
		}
		kind, _ := kindOfProc(k)
		joins = append(joins, nsFile{kind, f})
	}
	mnt, err := os.Open("/proc/" + init + "/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	defer mnt.Close()
	root, err := os.OpenFile("/proc/"+init+"/root", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("exec: the container's root: %w", err)
	}
	defer root.Close()

	stdio, closeNull, err := stdioFiles(stdin, stdout, stderr)
	if err != nil {
		return nil, err
	}
	defer closeNull()
	parent, child, err := socketPair()
	if err != nil {
		return nil, err
	}
	s := spawnSpec{
		argv:  c.initArgv(),
		env:   []string{envSyncFD + "=3"},
		files: append(stdio, child, mnt, root),
		join:  joins,
		sys: syscall.SysProcAttr{
			Setsid:  true,
			Setctty: terminal,
			// The parent-death signal: set by InitMain (see startInit).
		},
	}
	if cg := c.initCgroup(); cg != nil {
		defer cg.Close()
		s.sys.UseCgroupFD = true
		s.sys.CgroupFD = int(cg.Fd())
	}
	pr, err := spawn(s, c.opts.Reaper)
	_ = child.Close() // the new process has its copy
	if err != nil {
		_ = parent.Close()
		return nil, fmt.Errorf("exec: %w", err)
	}
	conn := newSyncConn(parent)
	defer conn.close()
	cfg := &initConfig{
		Mode: modeExec, Bundle: c.bundle, Rootfs: c.rootfs, Spec: c.spec, Process: p,
		Terminal: terminal, MountNSFD: 4, RootFD: 5,
	}
	fail := func(err error) (*Process, error) {
		pr.kill()
		return nil, err
	}
	if err := conn.send(&message{Type: msgConfig, Config: cfg}); err != nil {
		return nil, fmt.Errorf("exec: %w", goneError("exec'd process", pr, err))
	}
	for {
		m, err := conn.recv()
		if errors.Is(err, io.EOF) {
			return &Process{Pid: pr.pid, p: pr}, nil // exec'd
		}
		if err != nil {
			return fail(fmt.Errorf("exec: %w", err))
		}
		switch m.Type {
		case msgDebug:
			c.debugf("%s", m.Text)
		case msgError:
			err := initError(m)
			_, _ = pr.wait() // it exits by itself after reporting
			return nil, err
		default:
			return fail(fmt.Errorf("exec: unexpected %q message", m.Type))
		}
	}
}

func (c *Container) initArgv() []string {
	argv := append([]string(nil), c.opts.InitCommand...)
	if p, err := initPath(argv[0]); err == nil {
		argv[0] = p
	}
	return argv
}

// initCgroup opens the init's cgroup v2 directory when it differs from
// ours, so that an Exec'd process starts in it (CLONE_INTO_CGROUP);
// nil otherwise.
func (c *Container) initCgroup() *os.File {
	dir, ok := c.ownCgroupDir()
	if !ok {
		return nil
	}
	f, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		c.debugf("exec: cannot open the container's cgroup %s: %v", dir, err)
		return nil
	}
	return f
}

func kindOfProc(name string) (nsKind, bool) {
	for _, k := range nsKinds {
		if k.proc == name {
			return k, true
		}
	}
	return nsKind{}, false
}
