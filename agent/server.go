package agent

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// HostNetns: a network namespace that a config names by path is the
	// host's, whose interfaces the VMM passed on to this guest (the vm
	// sandbox): the container shares the agent's network namespace
	// instead of joining the path (netconf.go).
	HostNetns bool
	// ConfigureNetwork applies a create's Network (protocol 1.2) to the
	// machine the agent runs on; nil: such a create is refused
	// (unsupported).
	ConfigureNetwork func(n *proto.Network) error
	// OnExit, when set, is called once a container's process has exited
	// and its waiters have been answered.
	OnExit func(id string, w proto.WaitResult)
	// Reaper, when set, goes to agent/container as Options.Reaper: an
	// agent that reaps every child (hull-agent, PID 1) hands the container
	// code the statuses of the processes it starts (inits and execs). nil:
	// the container code waits for its children itself.
	Reaper container.Reaper
	// Restored handles OpRestored: sets the clock and feeds the entropy
	// pool of a VM restored from a snapshot; nil: refused (unsupported).
	Restored func(*proto.RestoredArgs) error
	// Mounter mounts the virtio-9p share a create names in RootfsTag; nil:
	// such a create is refused (unsupported).
	Mounter Mounter
	// ContainerDir holds a directory per container, the mount point of
	// its 9p rootfs; "" means DefaultContainerDir.
	ContainerDir string
	// Shutdown, when set, is called once the answer to a shutdown request
	// has been written (hull-agent powers the VM off); nil: shutdown is
	// unsupported.
	Shutdown func()
	// Go runs f in a new goroutine; nil: go f(). hull-agent passes one
	// that turns a panic into a reboot: PID 1 must not die.
	Go func(f func())

	rt         containerRuntime // nil: agent/container
	mu         sync.Mutex
	containers map[string]*ctr
	streams    map[proto.StreamID]*stream // StdioStream: the agent's ends
	conns      sync.WaitGroup             // connections being served
	netMu      sync.Mutex                 // held while the network is configured
	network    []byte                     // the Network configured, as JSON; nil: none yet (netMu)
}

// DefaultContainerDir is where the agent makes a directory per container
// (Server.ContainerDir).
const DefaultContainerDir = "/run/hull/containers"

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
	c      ctrHandle            // nil while being created
	status specs.ContainerState // creating, created, running, paused, stopped
	exit   proto.WaitResult
	done   chan struct{} // closed when the process has exited
	execs  map[string]*execProc
	term   *os.File // StdioStream with a terminal: the pty's master, for resize
	rootfs string   // the mount point of a RootfsTag share, "" without one
	mounts string   // the mount point of a MountsTag share, "" without one
}

type execProc struct {
	p    procHandle // nil while being started
	exit proto.WaitResult
	done chan struct{}
	term *os.File // as ctr.term
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

func (s *Server) goFunc(f func()) {
	if s.Go != nil {
		s.Go(f)
		return
	}
	go f()
}

// Serve accepts connections on l until it is closed. Each one starts
// with the Hello exchange, then is a control connection or a stream.
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
		s.goFunc(func() {
			defer s.conns.Done()
			s.serveConn(c)
		})
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	var after *afterWrite
	if s.Shutdown != nil {
		// Only an agent that can shut down needs to act after a response
		// is written; the wrapper hides a Unix socket's descriptor
		// passing, which hull-agent's vsock connections lack anyway.
		after = &afterWrite{Conn: c}
		c = after
	}
	h, st, err := s.serverHello(c)
	if err != nil {
		s.logf("connection refused: %v", err)
		return
	}
	if h.Role == proto.RoleStream {
		s.pump(st, h.Stream, c)
		return
	}
	conn := proto.NewConn(c)
	defer conn.Close()
	handler := func(op proto.Op, args any, files []*os.File) (any, []*os.File, error) {
		if op == proto.OpShutdown && after != nil {
			closeFiles(files)
			s.logf("shutdown requested")
			after.set(s.Shutdown)
			return nil, nil, nil
		}
		return s.handle(op, args, files)
	}
	if err := conn.Serve(handler); err != nil {
		s.logf("control connection: %v", err)
	}
}

// afterWrite runs a function once the next write has returned: the
// answer to a shutdown request is on its way before the agent ends.
type afterWrite struct {
	net.Conn
	mu sync.Mutex
	f  func()
}

func (a *afterWrite) set(f func()) {
	a.mu.Lock()
	a.f = f
	a.mu.Unlock()
}

func (a *afterWrite) Write(p []byte) (int, error) {
	n, err := a.Conn.Write(p)
	a.mu.Lock()
	f := a.f
	a.f = nil
	a.mu.Unlock()
	if f != nil {
		f()
	}
	return n, err
}

// serverHello reads a client's Hello and answers it, as
// proto.Conn.ServerHello does, and for a stream connection claims the
// stream first, so that a stream that does not exist or is attached
// already gets an error Hello. Hellos carry no descriptors.
func (s *Server) serverHello(c net.Conn) (*proto.Hello, *stream, error) {
	b, err := proto.ReadFrame(c)
	if err != nil {
		return nil, nil, err
	}
	var h proto.Hello
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, nil, fmt.Errorf("agent protocol: bad hello: %w", err)
	}
	reply := &proto.Hello{Version: proto.Version, Role: h.Role, Agent: s.Name}
	var st *stream
	switch {
	case h.Version.Major != proto.Version.Major:
		reply.Error = proto.Errorf(proto.CodeVersion, "%v: runtime speaks %s, this agent %s", proto.ErrVersion, h.Version, proto.Version)
	case h.Role != proto.RoleControl && h.Role != proto.RoleStream:
		reply.Error = proto.Errorf(proto.CodeBadRequest, "agent protocol: unknown role %q", clipString(string(h.Role)))
	case h.Role == proto.RoleStream && (h.Stream == nil || validStream(h.Stream) != nil):
		reply.Error = proto.Errorf(proto.CodeBadRequest, "agent protocol: bad stream connection")
	case h.Role == proto.RoleStream:
		var e *proto.Error
		if st, e = s.claimStream(*h.Stream); e != nil {
			reply.Error = e
		}
	}
	if err := proto.WriteFrame(c, reply); err != nil {
		if st != nil {
			s.unclaimStream(st)
		}
		return nil, nil, err
	}
	if reply.Error != nil {
		return nil, nil, reply.Error
	}
	return &h, st, nil
}

func clipString(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
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

// getCreated is get for the operations that need the container made.
func (s *Server) getCreated(id string) (*ctr, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.c == nil {
		return nil, proto.Errorf(proto.CodeState, "container %s is being created", id)
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
	case proto.OpRestored:
		if s.Restored == nil {
			return nil, nil, proto.Errorf(proto.CodeUnsupported, "restored: this agent runs in no VM")
		}
		if err := s.Restored(args.(*proto.RestoredArgs)); err != nil {
			return nil, nil, proto.Errorf(proto.CodeFailed, "restored: %v", err)
		}
		return nil, nil, nil
	case proto.OpResize:
		return nil, nil, s.resize(args.(*proto.ResizeArgs))
	}
	a := args.(*proto.IDArgs)
	if op == proto.OpState {
		c, err := s.get(a.ID)
		if err != nil {
			return nil, nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		res := &proto.StateResult{Status: string(c.status), ExitStatus: c.exit.Status}
		if c.c != nil {
			res.Pid = c.c.Pid()
		}
		return res, nil, nil
	}
	c, err := s.getCreated(a.ID)
	if err != nil {
		return nil, nil, err
	}
	switch op {
	case proto.OpStart:
		return nil, nil, s.start(c)
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
	case proto.OpCloseStdin:
		return nil, nil, s.closeStdin(c, a.Exec)
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

// procStdio is what a create or exec gives the process and keeps.
type procStdio struct {
	child [3]*os.File // the process's stdin, stdout and stderr
	extra []*os.File  // its fds 3, 4, ...
	// reply is the terminal's master with StdioFDs (or StdioNull): sent
	// back to the caller.
	reply *os.File
	// streams are the agent's ends with StdioStream, by stream name.
	streams map[string]*os.File
	// term is the terminal's master with StdioStream, kept for resize.
	term *os.File
}

// closeChild closes the agent's copies of the process's descriptors
// once the process has its own.
func (p *procStdio) closeChild() {
	closeFiles(uniq(p.child[:]...))
	closeFiles(p.extra)
}

// closeOurs closes what the agent would have kept: the process failed.
func (p *procStdio) closeOurs() {
	closeFiles([]*os.File{p.reply, p.term})
	for _, f := range p.streams {
		f.Close()
	}
}

// newStdio turns the descriptors of a create or exec into the process's
// stdio and extra files, and the ends the agent keeps. On error it has
// closed files.
func newStdio(mode proto.StdioMode, terminal bool, files []*os.File) (*procStdio, error) {
	switch {
	case mode == proto.StdioStream:
		p, err := streamStdio(terminal)
		if err != nil {
			closeFiles(files)
			return nil, err
		}
		p.extra = files
		return p, nil
	case terminal:
		m, slave, err := openPty()
		if err != nil {
			closeFiles(files)
			return nil, err
		}
		return &procStdio{child: [3]*os.File{slave, slave, slave}, reply: m, extra: files}, nil
	case mode == proto.StdioFDs:
		return &procStdio{child: [3]*os.File{files[0], files[1], files[2]}, extra: files[3:]}, nil
	case mode == proto.StdioNull:
		n, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			closeFiles(files)
			return nil, err
		}
		return &procStdio{child: [3]*os.File{n, n, n}, extra: files}, nil
	}
	closeFiles(files)
	return nil, proto.Errorf(proto.CodeUnsupported, "stdio mode %q is not supported by this agent", mode)
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
	if (a.RootfsTag != "" || a.MountsTag != "") && s.Mounter == nil {
		closeFiles(files)
		return nil, nil, proto.Errorf(proto.CodeUnsupported, "rootfsTag, mountsTag: this agent mounts no virtio-9p shares")
	}
	if err := checkHostMounts(&spec, a.HostMounts); err != nil {
		closeFiles(files)
		return nil, nil, err
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

	if err := s.configureNetwork(a.Network); err != nil {
		closeFiles(files)
		s.forget(a.ID)
		return nil, nil, err
	}
	pio, err := newStdio(a.Stdio, a.Terminal, files)
	if err != nil {
		s.forget(a.ID)
		return nil, nil, err
	}
	defer pio.closeChild()
	if s.InheritNamespaces {
		inheritNamespaces(&spec)
	}
	if s.HostNetns {
		shareGuestNetns(&spec)
	}
	if a.Rootfs != "" && spec.Root != nil {
		spec.Root.Path = a.Rootfs
	}
	var rootfs string
	if a.RootfsTag != "" {
		if spec.Root == nil {
			spec.Root = &specs.Root{}
		}
		if rootfs, err = s.mountRootfs(a.ID, a.RootfsTag, spec.Root.Readonly); err != nil {
			pio.closeOurs()
			s.forget(a.ID)
			return nil, nil, proto.Errorf(proto.CodeFailed, "%v", err)
		}
		spec.Root.Path = rootfs
	}
	var mounts string
	if len(a.HostMounts) > 0 {
		if mounts, err = s.mountHostMounts(a.ID, a.MountsTag, &spec, a.HostMounts); err != nil {
			pio.closeOurs()
			s.unmountAll(a.ID, rootfs, "")
			s.forget(a.ID)
			return nil, nil, proto.Errorf(proto.CodeFailed, "%v", err)
		}
	}
	state := func(status string, pid int) []byte {
		b, _ := json.Marshal(&specs.State{Version: specs.Version, ID: a.ID, Status: specs.ContainerState(status),
			Pid: pid, Bundle: a.Bundle, Annotations: a.Annotations})
		return b
	}
	cont, err := s.runtime().Create(container.Options{
		ID: a.ID, Bundle: a.Bundle, Spec: &spec,
		Stdin: pio.child[0], Stdout: pio.child[1], Stderr: pio.child[2], Terminal: a.Terminal,
		ExtraFiles: pio.extra, InitCommand: s.InitCommand, State: state, Reaper: s.Reaper,
	})
	if err != nil {
		pio.closeOurs()
		s.unmountAll(a.ID, rootfs, mounts)
		s.forget(a.ID)
		return nil, nil, proto.Errorf(proto.CodeFailed, "%v", err)
	}
	s.mu.Lock()
	c.c = cont
	c.status = specs.StateCreated
	c.term = pio.term
	c.rootfs = rootfs
	c.mounts = mounts
	s.addStreams(a.ID, "", pio.streams)
	s.mu.Unlock()
	s.goFunc(func() { s.reap(c) })
	s.logf("container %s created, pid %d", a.ID, cont.Pid())
	var out []*os.File
	if pio.reply != nil {
		out = []*os.File{pio.reply}
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

// configureNetwork applies n once: the guest has one network, which a
// later create may name again but not change.
func (s *Server) configureNetwork(n *proto.Network) error {
	if n == nil {
		return nil
	}
	if s.ConfigureNetwork == nil {
		return proto.Errorf(proto.CodeUnsupported, "network: this agent does not configure networks")
	}
	b, _ := json.Marshal(n)
	s.netMu.Lock()
	defer s.netMu.Unlock() // creates with a network wait for each other
	if s.network != nil {
		if string(s.network) != string(b) {
			return proto.Errorf(proto.CodeState, "network: the guest's network is configured already, differently")
		}
		return nil
	}
	if err := s.ConfigureNetwork(n); err != nil {
		return proto.Errorf(proto.CodeFailed, "%v", err)
	}
	s.network = b
	s.logf("network configured: %d interfaces, %d routes", len(n.Interfaces), len(n.Routes))
	return nil
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
	c, err := s.getCreated(a.ID)
	if err != nil {
		return err
	}
	sig := unix.Signal(a.Signal)
	if a.Exec != "" {
		s.mu.Lock()
		e := c.execs[a.Exec]
		var p procHandle
		if e != nil {
			p = e.p
		}
		s.mu.Unlock()
		if e == nil {
			return proto.Errorf(proto.CodeNotFound, "container %s has no exec %s", a.ID, a.Exec)
		}
		if p == nil {
			return proto.Errorf(proto.CodeState, "exec %s of container %s is being started", a.Exec, a.ID)
		}
		return p.Signal(sig)
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
	c, err := s.getCreated(a.ID)
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
	pio, err := newStdio(a.Stdio, a.Terminal, files)
	if err != nil {
		s.dropExec(c, a.Exec)
		return nil, nil, err
	}
	defer pio.closeChild() // container.Exec takes no extra descriptors: they are dropped, as before
	proc, err := c.c.Exec(&p, pio.child[0], pio.child[1], pio.child[2], a.Terminal)
	if err != nil {
		pio.closeOurs()
		s.dropExec(c, a.Exec)
		return nil, nil, proto.Errorf(proto.CodeFailed, "exec in container %s: %v", a.ID, err)
	}
	s.mu.Lock()
	e := c.execs[a.Exec]
	e.p = proc
	e.term = pio.term
	s.addStreams(a.ID, a.Exec, pio.streams)
	s.mu.Unlock()
	s.goFunc(func() {
		ws, err := proc.Wait()
		res := waitResult(ws)
		if err != nil {
			res = proto.WaitResult{Status: 255}
		}
		e.exit = res
		close(e.done)
	})
	var out []*os.File
	if pio.reply != nil {
		out = []*os.File{pio.reply}
	}
	return &proto.CreateResult{Pid: proc.PID()}, out, nil
}

func (s *Server) dropExec(c *ctr, name string) {
	s.mu.Lock()
	delete(c.execs, name)
	s.mu.Unlock()
}

// resize sets the window size of a terminal the agent holds (one made
// for StdioStream); with StdioFDs the caller holds the master and resizes
// it itself.
func (s *Server) resize(a *proto.ResizeArgs) error {
	c, err := s.getCreated(a.ID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	term := c.term
	var e *execProc
	if a.Exec != "" {
		if e = c.execs[a.Exec]; e != nil {
			term = e.term
		}
	}
	s.mu.Unlock()
	if a.Exec != "" && e == nil {
		return proto.Errorf(proto.CodeNotFound, "container %s has no exec %s", a.ID, a.Exec)
	}
	if term == nil {
		return proto.Errorf(proto.CodeUnsupported, "resize: %s has no terminal held by the agent (with stdio %q the caller holds it)",
			procName(a.ID, a.Exec), proto.StdioFDs)
	}
	rc, err := term.SyscallConn()
	if err != nil {
		return proto.Errorf(proto.CodeFailed, "resize %s: %v", procName(a.ID, a.Exec), err)
	}
	ws := &unix.Winsize{Row: a.Height, Col: a.Width}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		ioErr = err
	}
	if ioErr != nil {
		return proto.Errorf(proto.CodeFailed, "resize %s: TIOCSWINSZ: %v", procName(a.ID, a.Exec), ioErr)
	}
	return nil
}

// procName names a container's process, or one of its execs, in errors.
func procName(id, exec string) string {
	if exec == "" {
		return "container " + id
	}
	return "exec " + exec + " of container " + id
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

// delete kills what is left of the container and releases what the
// agent holds for it: unattached streams, terminals, the 9p rootfs.
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
	s.mu.Lock()
	delete(s.containers, c.id)
	terms := []*os.File{c.term}
	for _, e := range c.execs {
		terms = append(terms, e.term)
	}
	s.mu.Unlock()
	closeFiles(terms)
	s.dropStreams(c.id)
	if c.mounts != "" {
		if err := s.unmountShare(c.mounts); err != nil {
			return proto.Errorf(proto.CodeFailed, "container %s deleted, but %v", c.id, err)
		}
	}
	if c.rootfs != "" {
		if err := s.unmountRootfs(c.id, c.rootfs); err != nil {
			return proto.Errorf(proto.CodeFailed, "container %s deleted, but %v", c.id, err)
		}
	}
	s.logf("container %s deleted", c.id)
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

// The container code behind the Server, as interfaces so that unit tests
// can stand in a plain process for a container (creating one needs root
// and a root file system).
type (
	containerRuntime interface {
		Create(o container.Options) (ctrHandle, error)
	}
	ctrHandle interface {
		Pid() int
		Start() error
		Wait() (unix.WaitStatus, error)
		Signal(sig unix.Signal) error
		SignalAll(sig unix.Signal) error
		Pids() ([]int, error)
		Pause() error
		Resume() error
		Exec(p *specs.Process, stdin, stdout, stderr *os.File, terminal bool) (procHandle, error)
	}
	procHandle interface {
		PID() int
		Wait() (unix.WaitStatus, error)
		Signal(sig unix.Signal) error
	}
)

func (s *Server) runtime() containerRuntime {
	if s.rt != nil {
		return s.rt
	}
	return realRuntime{}
}

// realRuntime is agent/container.
type realRuntime struct{}

func (realRuntime) Create(o container.Options) (ctrHandle, error) {
	c, err := container.Create(o)
	if err != nil {
		return nil, err
	}
	return realContainer{c}, nil
}

type realContainer struct{ *container.Container }

func (c realContainer) Exec(p *specs.Process, stdin, stdout, stderr *os.File, terminal bool) (procHandle, error) {
	pr, err := c.Container.Exec(p, stdin, stdout, stderr, terminal)
	if err != nil {
		return nil, err
	}
	return realProcess{pr}, nil
}

type realProcess struct{ *container.Process }

func (p realProcess) PID() int { return p.Pid }
