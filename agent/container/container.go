package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// envSyncFD names, in the init's environment, the fd of its end of the
// sync socket. Its presence is what IsInit looks for.
const envSyncFD = "_HULL_CONTAINER_SYNC_FD"

// Container is a created container: its init is set up and waits for
// Start, or has exec'd the container's process.
type Container struct {
	id     string
	spec   *specs.Spec
	bundle string
	rootfs string
	opts   Options
	init   *proc
	who    members // how to find the container's processes

	mu      sync.Mutex // guards conn, started, paused
	conn    *syncConn  // nil once closed
	started bool
	paused  pauseMethod
}

// Create starts the container's init half and returns once it is fully
// set up and waiting for Start. On error nothing it started is left
// running.
func Create(o Options) (*Container, error) {
	pl, err := o.validate()
	if err != nil {
		return nil, err
	}
	c := &Container{id: o.ID, spec: o.Spec, bundle: o.Bundle, rootfs: pl.rootfs, opts: o}
	conn, err := c.startInit(pl)
	// The caller's files are the init's now; keep no references to them.
	c.opts.Stdin, c.opts.Stdout, c.opts.Stderr, c.opts.ExtraFiles, c.opts.Cgroup = nil, nil, nil, nil, nil
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Container, error) {
		c.init.kill()
		conn.close()
		return nil, err
	}
	cfg := &initConfig{
		Mode: modeInit, Bundle: o.Bundle, Rootfs: pl.rootfs, Spec: o.Spec, Process: o.Spec.Process,
		State:     o.state(string(specs.StateCreating), c.init.pid),
		Terminal:  o.Terminal,
		NumExtra:  len(o.ExtraFiles),
		MountNSFD: -1, RootFD: -1,
		UserNS:   pl.ns.created[specs.UserNamespace],
		CgroupNS: pl.ns.created[specs.CgroupNamespace],
		NoPivot:  o.NoPivotRoot,
	}
	if pl.ns.mountPath != "" {
		cfg.MountNSFD = 4 + len(o.ExtraFiles) // after the sync socket
	}
	if err := conn.send(&message{Type: msgConfig, Config: cfg}); err != nil {
		return fail(c.initGone(err))
	}
	for {
		m, err := conn.recv()
		if err != nil {
			return fail(c.initGone(err))
		}
		switch m.Type {
		case msgDebug:
			c.debugf("%s", m.Text)
		case msgError:
			return fail(initError(m))
		case msgCreateRuntime:
			if o.CreateRuntime != nil {
				if err := o.CreateRuntime(c.init.pid); err != nil {
					return fail(fmt.Errorf("createRuntime: %w", err))
				}
			}
			if err := conn.send(&message{Type: msgResume}); err != nil {
				return fail(c.initGone(err))
			}
		case msgReady:
			c.who = findMembers(c.init.pid, pl.ns)
			c.conn = conn
			go c.closeWhenGone()
			return c, nil
		default:
			return fail(fmt.Errorf("container init: unexpected %q message", m.Type))
		}
	}
}

// startInit starts InitCommand in the new namespaces and returns the
// parent's end of the sync socket.
func (c *Container) startInit(pl plan) (*syncConn, error) {
	o := c.opts
	stdio, closeNull, err := stdioFiles(o.Stdin, o.Stdout, o.Stderr)
	if err != nil {
		return nil, err
	}
	defer closeNull()
	parent, child, err := socketPair()
	if err != nil {
		return nil, err
	}
	files := append(append(stdio, o.ExtraFiles...), child)
	if pl.ns.mountPath != "" {
		mnt, err := os.Open(pl.ns.mountPath)
		if err != nil {
			_ = parent.Close()
			_ = child.Close()
			return nil, fmt.Errorf("open mount namespace: %w", err)
		}
		defer mnt.Close()
		files = append(files, mnt)
	}
	joins, err := openJoins(pl.ns.join)
	if err != nil {
		_ = parent.Close()
		_ = child.Close()
		return nil, err
	}
	defer closeNSFiles(joins)
	s := spawnSpec{
		argv:  pl.argv,
		env:   []string{envSyncFD + "=" + strconv.Itoa(3+len(o.ExtraFiles))},
		files: files,
		join:  joins,
		sys: syscall.SysProcAttr{
			Cloneflags: pl.ns.cloneFlags,
			Setsid:     true,
			Setctty:    o.Terminal,
			Ctty:       0,
			// No Pdeathsig here: Go's child kills itself when getppid()
			// differs from the parent's pid, which is always so in a pid
			// namespace joined by path. InitMain sets it first thing.
		},
	}
	if lx := o.Spec.Linux; lx != nil && pl.ns.created[specs.UserNamespace] {
		s.sys.UidMappings = idMappings(lx.UIDMappings)
		s.sys.GidMappings = idMappings(lx.GIDMappings)
		s.sys.GidMappingsEnableSetgroups = true // the parent is root: additionalGids work
		// Become the namespace's root before the exec, or the init runs
		// as the overflow uid with no capabilities in it.
		s.sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if o.Cgroup != nil {
		s.sys.UseCgroupFD = true
		s.sys.CgroupFD = int(o.Cgroup.Fd())
	}
	c.init, err = spawn(s, o.Reaper)
	_ = child.Close() // the init has its copy
	if err != nil {
		_ = parent.Close()
		return nil, fmt.Errorf("start the container init: %w", err)
	}
	return newSyncConn(parent), nil
}

// initGone explains a sync socket that failed during set-up: the init
// died. It waits for the init's exit status to say how.
func (c *Container) initGone(err error) error { return goneError("container init", c.init, err) }

// goneError explains a sync socket failure with the child's exit status.
func goneError(who string, p *proc, err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		return err
	}
	p.kill()
	ws, werr := p.wait()
	if werr != nil {
		return fmt.Errorf("%s exited during set-up: %w", who, werr)
	}
	return fmt.Errorf("%s exited during set-up: %s", who, describeStatus(ws))
}

func (c *Container) debugf(format string, args ...any) {
	if c.opts.Debugf != nil {
		c.opts.Debugf(format, args...)
	}
}

// closeWhenGone closes the sync socket of a container that dies before
// Start.
func (c *Container) closeWhenGone() {
	_, _ = c.init.wait() // only the exit matters here
	c.mu.Lock()
	if !c.started && c.conn != nil {
		c.conn.close()
		c.conn = nil
	}
	c.mu.Unlock()
}

// Pid is the init's pid (in the caller's pid namespace): the container's
// process once started.
func (c *Container) Pid() int { return c.init.pid }

// Start runs the startContainer hooks inside the container and execs
// process.args. It returns nil once the exec has succeeded, or the error
// that stopped it (e.g. `exec: "foo": executable file not found in
// $PATH`); the init then exits with status 127 (not found) or 126.
func (c *Container) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return ErrStarted
	}
	c.started = true
	if c.conn == nil {
		return fmt.Errorf("start: container init has exited: %w", ErrExited)
	}
	conn := c.conn
	c.conn = nil
	defer conn.close()
	st := c.opts.state(string(specs.StateCreated), c.init.pid)
	if err := conn.send(&message{Type: msgStart, State: st}); err != nil {
		return fmt.Errorf("start: container init is gone: %w", err)
	}
	for {
		m, err := conn.recv()
		if errors.Is(err, io.EOF) {
			return nil // the close-on-exec end closed: exec'd
		}
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		switch m.Type {
		case msgDebug:
			c.debugf("%s", m.Text)
		case msgError:
			return initError(m)
		default:
			return fmt.Errorf("start: unexpected %q message from the container init", m.Type)
		}
	}
}

// Wait waits for the init (the container's process once started) to
// exit and returns its wait status. It may be called any number of times.
func (c *Container) Wait() (unix.WaitStatus, error) { return c.init.wait() }

// Signal sends sig to the container's process. It returns an error
// wrapping ErrExited once that has exited.
func (c *Container) Signal(sig unix.Signal) error { return c.init.signal(sig) }

// stdioFiles returns the three stdio files, /dev/null for missing ones,
// and a function closing what it opened.
func stdioFiles(in, out, errf *os.File) ([]*os.File, func(), error) {
	var null *os.File
	files := []*os.File{in, out, errf}
	for i, f := range files {
		if f != nil {
			continue
		}
		if null == nil {
			var err error
			if null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
				return nil, nil, err
			}
		}
		files[i] = null
	}
	return files, func() {
		if null != nil {
			_ = null.Close() // read-write /dev/null: nothing to flush
		}
	}, nil
}

// socketPair returns the parent's end (non-blocking, for Go's poller)
// and the child's (blocking), both close-on-exec.
func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(fds[0]), "container-sync"), os.NewFile(uintptr(fds[1]), "container-sync-init"), nil
}

func idMappings(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

func describeStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %v", ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}
