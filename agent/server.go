package agent

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/container"
	"github.com/hullvm/hull/agent/proto"
)

// Server answers the agent protocol (agent/proto): it creates containers
// from OCI configs and runs, signals and waits for their processes. The
// process sandbox runs it on the host (ServeProcessSandbox); in a microVM
// hull-agent runs it as PID 1 behind vsock.
type Server struct {
	// Name is the agent's self-description in its Hello.
	Name string
	// InitCommand starts a container's init half (container.Options).
	InitCommand []string
	// Log receives one line per notable event; nil for none.
	Log func(format string, args ...any)
	// InheritNamespaces: the agent already runs in the namespaces the
	// configs ask for (the process sandbox's agent, started in them by
	// the runtime). The container's process then shares them, except for
	// a mount namespace of its own for its root.
	InheritNamespaces bool
	// OnExit, when set, is called once a container's process has exited
	// and its waiters have been answered.
	OnExit func(id string, w proto.WaitResult)

	mu         sync.Mutex
	containers map[string]*ctr
	conns      sync.WaitGroup // connections being served
}

// Drain waits up to d for the connections being served to end: the
// answers to waiters are on their way before an agent exits.
func (s *Server) Drain(d time.Duration) {
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

type ctr struct {
	id     string
	bundle string
	spec   *specs.Spec
	c      *container.Container
	status specs.ContainerState // created, running, paused, stopped
	exit   proto.WaitResult
	done   chan struct{} // closed when the process has exited
	execs  map[string]*execProc
}

type execProc struct {
	p    *container.Process
	exit proto.WaitResult
	done chan struct{}
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

// Serve accepts connections on l until it is closed.
func (s *Server) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.serveConn(c)
		}()
	}
}

func (s *Server) serveConn(c net.Conn) {
	conn := proto.NewConn(c)
	defer conn.Close()
	h, err := conn.ServerHello(s.Name)
	if err != nil {
		s.logf("connection refused: %v", err)
		return
	}
	if h.Role == proto.RoleStream {
		s.logf("stream connections are not served by this agent yet")
		return
	}
	if err := conn.Serve(s.handle); err != nil {
		s.logf("control connection: %v", err)
	}
}

func (s *Server) get(id string) (*ctr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containers[id]
	if c == nil {
		return nil, proto.Errorf(proto.CodeNotFound, "container %s does not exist", id)
	}
	return c, nil
}

func (s *Server) handle(op proto.Op, args any, files []*os.File) (any, []*os.File, error) {
	switch op {
	case proto.OpPing:
		return nil, nil, nil
	case proto.OpCreate:
		return s.create(args.(*proto.CreateArgs), files)
	case proto.OpExec:
		return s.exec(args.(*proto.ExecArgs), files)
	case proto.OpSignal:
		return nil, nil, s.signal(args.(*proto.SignalArgs))
	}
	closeFiles(files)
	switch op {
	case proto.OpShutdown:
		return nil, nil, proto.Errorf(proto.CodeUnsupported, "shutdown: not supported by this agent")
	case proto.OpResize:
		return nil, nil, s.resize(args.(*proto.ResizeArgs))
	}
	a := args.(*proto.IDArgs)
	c, err := s.get(a.ID)
	if err != nil {
		return nil, nil, err
	}
	switch op {
	case proto.OpStart:
		return nil, nil, s.start(c)
	case proto.OpState:
		s.mu.Lock()
		defer s.mu.Unlock()
		return &proto.StateResult{Status: string(c.status), Pid: c.c.Pid(), ExitStatus: c.exit.Status}, nil, nil
	case proto.OpWait:
		return s.wait(c, a.Exec)
	case proto.OpPs:
		pids, err := c.c.Pids()
		if err != nil {
			return nil, nil, err
		}
		return &proto.PsResult{Pids: pids}, nil, nil
	case proto.OpPause, proto.OpResume:
		return nil, nil, s.freeze(c, op == proto.OpPause)
	case proto.OpDelete:
		return nil, nil, s.delete(c)
	}
	return nil, nil, proto.Errorf(proto.CodeUnsupported, "%s: not supported by this agent", op)
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// stdio turns the descriptors of a create or exec into the process's
// stdin, stdout, stderr, a terminal master to hand back, and extra files.
func stdio(mode proto.StdioMode, terminal bool, files []*os.File) (io [3]*os.File, master *os.File, extra []*os.File, err error) {
	switch {
	case terminal:
		m, slave, err := openPty()
		if err != nil {
			return io, nil, nil, err
		}
		io = [3]*os.File{slave, slave, slave}
		return io, m, files, nil
	case mode == proto.StdioFDs:
		return [3]*os.File{files[0], files[1], files[2]}, nil, files[3:], nil
	case mode == proto.StdioNull:
		n, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return io, nil, nil, err
		}
		return [3]*os.File{n, n, n}, nil, files, nil
	}
	return io, nil, nil, proto.Errorf(proto.CodeUnsupported, "stdio mode %q is not supported by this agent", mode)
}

func (s *Server) create(a *proto.CreateArgs, files []*os.File) (any, []*os.File, error) {
	var spec specs.Spec
	if err := json.Unmarshal(a.Spec, &spec); err != nil {
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeBadRequest, "config.json: %v", err)
	}
	if spec.Process == nil {
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeBadRequest, "config.json has no process")
	}
	s.mu.Lock()
	if s.containers == nil {
		s.containers = map[string]*ctr{}
	}
	if s.containers[a.ID] != nil {
		s.mu.Unlock()
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeExists, "container %s already exists", a.ID)
	}
	// Reserve the id while the container is made.
	c := &ctr{id: a.ID, bundle: a.Bundle, spec: &spec, status: specs.StateCreating,
		done: make(chan struct{}), execs: map[string]*execProc{}}
	s.containers[a.ID] = c
	s.mu.Unlock()

	io, master, extra, err := stdio(a.Stdio, a.Terminal, files)
	if err != nil {
		closeFiles(files)
		s.forget(a.ID)
		return nil, nil, err
	}
	defer closeFiles(uniq(io[:]...))
	defer closeFiles(extra)
	if s.InheritNamespaces {
		inheritNamespaces(&spec)
	}
	if a.Rootfs != "" && spec.Root != nil {
		spec.Root.Path = a.Rootfs
	}
	state := func(status string, pid int) []byte {
		b, _ := json.Marshal(&specs.State{Version: specs.Version, ID: a.ID, Status: specs.ContainerState(status),
			Pid: pid, Bundle: a.Bundle, Annotations: a.Annotations})
		return b
	}
	cont, err := container.Create(container.Options{
		ID: a.ID, Bundle: a.Bundle, Spec: &spec,
		Stdin: io[0], Stdout: io[1], Stderr: io[2], Terminal: a.Terminal,
		ExtraFiles: extra, InitCommand: s.InitCommand, State: state,
	})
	if err != nil {
		if master != nil {
			master.Close()
		}
		s.forget(a.ID)
		return nil, nil, proto.Errorf(proto.CodeFailed, "%v", err)
	}
	s.mu.Lock()
	c.c = cont
	c.status = specs.StateCreated
	s.mu.Unlock()
	go s.reap(c)
	s.logf("container %s created, pid %d", a.ID, cont.Pid())
	var out []*os.File
	if master != nil {
		out = []*os.File{master}
	}
	return &proto.CreateResult{Pid: cont.Pid()}, out, nil
}

// uniq drops repeated descriptors (a terminal is stdin, stdout and stderr).
func uniq(fs ...*os.File) []*os.File {
	var out []*os.File
	for _, f := range fs {
		dup := false
		for _, g := range out {
			dup = dup || g == f
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) forget(id string) {
	s.mu.Lock()
	delete(s.containers, id)
	s.mu.Unlock()
}

func waitResult(ws unix.WaitStatus) proto.WaitResult {
	if ws.Signaled() {
		return proto.WaitResult{Status: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
	}
	return proto.WaitResult{Status: ws.ExitStatus()}
}

// reap waits for the container's process and records how it ended.
func (s *Server) reap(c *ctr) {
	ws, err := c.c.Wait()
	res := waitResult(ws)
	if err != nil {
		s.logf("container %s: wait: %v", c.id, err)
		res = proto.WaitResult{Status: 255}
	}
	s.mu.Lock()
	c.status = specs.StateStopped
	c.exit = res
	s.mu.Unlock()
	close(c.done)
	s.logf("container %s: %s", c.id, res)
	if s.OnExit != nil {
		s.OnExit(c.id, res)
	}
}

func (s *Server) start(c *ctr) error {
	s.mu.Lock()
	if c.status != specs.StateCreated {
		st := c.status
		s.mu.Unlock()
		return proto.Errorf(proto.CodeState, "cannot start container %s: it is %s, not created", c.id, st)
	}
	c.status = specs.StateRunning // claimed: a second start fails
	s.mu.Unlock()
	if err := c.c.Start(); err != nil {
		return proto.Errorf(proto.CodeFailed, "starting container %s: %v", c.id, err)
	}
	return nil
}

func (s *Server) signal(a *proto.SignalArgs) error {
	c, err := s.get(a.ID)
	if err != nil {
		return err
	}
	sig := unix.Signal(a.Signal)
	if a.Exec != "" {
		s.mu.Lock()
		e := c.execs[a.Exec]
		s.mu.Unlock()
		if e == nil {
			return proto.Errorf(proto.CodeNotFound, "container %s has no exec %s", a.ID, a.Exec)
		}
		return e.p.Signal(sig)
	}
	s.mu.Lock()
	stopped := c.status == specs.StateStopped || c.status == specs.StateCreating
	s.mu.Unlock()
	if stopped {
		return proto.Errorf(proto.CodeState, "container %s is not running", a.ID)
	}
	if a.All {
		err = c.c.SignalAll(sig)
	} else {
		err = c.c.Signal(sig)
	}
	if err != nil {
		return proto.Errorf(proto.CodeFailed, "signal %d to container %s: %v", a.Signal, a.ID, err)
	}
	return nil
}

func (s *Server) wait(c *ctr, exec string) (any, []*os.File, error) {
	if exec == "" {
		<-c.done
		s.mu.Lock()
		defer s.mu.Unlock()
		return &c.exit, nil, nil
	}
	s.mu.Lock()
	e := c.execs[exec]
	s.mu.Unlock()
	if e == nil {
		return nil, nil, proto.Errorf(proto.CodeNotFound, "container %s has no exec %s", c.id, exec)
	}
	<-e.done
	return &e.exit, nil, nil
}

func (s *Server) exec(a *proto.ExecArgs, files []*os.File) (any, []*os.File, error) {
	c, err := s.get(a.ID)
	if err != nil {
		closeFiles(files)
		return nil, nil, err
	}
	var p specs.Process
	if err := json.Unmarshal(a.Process, &p); err != nil {
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeBadRequest, "process: %v", err)
	}
	if len(p.Args) == 0 {
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeBadRequest, "process.args is empty")
	}
	s.mu.Lock()
	running := c.status == specs.StateRunning
	taken := c.execs[a.Exec] != nil
	if running && !taken {
		c.execs[a.Exec] = &execProc{done: make(chan struct{})}
	}
	s.mu.Unlock()
	switch {
	case !running:
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeState, "cannot exec in container %s: it is not running", a.ID)
	case taken:
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeExists, "container %s already has an exec %s", a.ID, a.Exec)
	}
	io, master, extra, err := stdio(a.Stdio, a.Terminal, files)
	if err != nil {
		closeFiles(files)
		s.dropExec(c, a.Exec)
		return nil, nil, err
	}
	defer closeFiles(uniq(io[:]...))
	defer closeFiles(extra)
	proc, err := c.c.Exec(&p, io[0], io[1], io[2], a.Terminal)
	if err != nil {
		if master != nil {
			master.Close()
		}
		s.dropExec(c, a.Exec)
		return nil, nil, proto.Errorf(proto.CodeFailed, "exec in container %s: %v", a.ID, err)
	}
	s.mu.Lock()
	e := c.execs[a.Exec]
	e.p = proc
	s.mu.Unlock()
	go func() {
		ws, err := proc.Wait()
		res := waitResult(ws)
		if err != nil {
			res = proto.WaitResult{Status: 255}
		}
		e.exit = res
		close(e.done)
	}()
	var out []*os.File
	if master != nil {
		out = []*os.File{master}
	}
	return &proto.CreateResult{Pid: proc.Pid}, out, nil
}

func (s *Server) dropExec(c *ctr, name string) {
	s.mu.Lock()
	delete(c.execs, name)
	s.mu.Unlock()
}

func (s *Server) resize(a *proto.ResizeArgs) error {
	return proto.Errorf(proto.CodeUnsupported, "resize: the terminal belongs to the caller in this sandbox")
}

func (s *Server) freeze(c *ctr, pause bool) error {
	var err error
	if pause {
		err = c.c.Pause()
	} else {
		err = c.c.Resume()
	}
	if err != nil {
		return proto.Errorf(proto.CodeFailed, "%v", err)
	}
	s.mu.Lock()
	if pause {
		c.status = "paused"
	} else {
		c.status = specs.StateRunning
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) delete(c *ctr) error {
	s.mu.Lock()
	st := c.status
	s.mu.Unlock()
	if st != specs.StateStopped {
		_ = c.c.SignalAll(unix.SIGKILL)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			return proto.Errorf(proto.CodeFailed, "container %s did not die within 10 s of SIGKILL", c.id)
		}
	}
	s.forget(c.id)
	return nil
}

// inheritNamespaces rewrites a config for a container that shares the
// agent's namespaces: each one the config asks for is joined through the
// agent's own /proc/self/ns file (a no-op join for the spawning thread),
// except the mount namespace, which the container gets fresh (a copy of
// the agent's) so that its pivot_root leaves the agent's root alone
// whether or not the config asked for one, and
// the user namespace, whose mappings the agent already lives under.
func inheritNamespaces(spec *specs.Spec) {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	names := map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "pid", specs.NetworkNamespace: "net",
		specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.CgroupNamespace: "cgroup"}
	// A mount namespace of its own, always: even a config that shares the
	// runtime's (the agent's) mount namespace must not have its rootfs
	// mounts and pivot_root land there.
	out := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	for _, n := range spec.Linux.Namespaces {
		switch {
		case names[n.Type] != "":
			out = append(out, specs.LinuxNamespace{Type: n.Type, Path: "/proc/self/ns/" + names[n.Type]})
		}
	}
	spec.Linux.Namespaces = out
	spec.Linux.UIDMappings, spec.Linux.GIDMappings = nil, nil
}
