package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/hooks"
	"github.com/hullvm/hull/agent/proto"
)

// Runtime is hull's OCI runtime over one state directory.
type Runtime struct {
	// Root is the state directory (--root).
	Root string
	// Self is the hull binary the process sandbox re-executes as its
	// agent; empty means /proc/self/exe.
	Self string
	// ConfigFile is the host configuration (DefaultConfigFile).
	ConfigFile string
	Log        *slog.Logger
	// LogOptions are the flags Log was made from; the vm sandbox's host
	// process logs to the same file (vmtimeline.go).
	LogOptions LogOptions
}

func (r *Runtime) store() store { return store{root: r.Root} }

func (r *Runtime) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (r *Runtime) sandbox(name string) (Sandbox, error) {
	switch name {
	case SandboxProcess:
		self := r.Self
		if self == "" {
			self = "/proc/self/exe"
		}
		return &processSandbox{self: self}, nil
	case SandboxVM:
		self := r.Self
		if self == "" {
			self = "/proc/self/exe"
		}
		return &vmSandbox{self: self, log: r.log(), logOpts: r.LogOptions}, nil
	}
	return nil, fmt.Errorf("unknown sandbox %q", name)
}

// CreateOptions are create's (and run's) flags.
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	Sandbox       string // --sandbox; empty: annotation, config file, default
	// Stdio is the container's stdin, stdout and stderr (the caller's own
	// in the CLI); ignored with a terminal.
	Stdio [3]*os.File
	// ExtraFiles are --preserve-fds: fds 3.. of the caller.
	ExtraFiles []*os.File
}

// Create creates container id: the sandbox is started and the
// container's process set up, waiting for Start.
func (r *Runtime) Create(id string, o CreateOptions) (err error) {
	if err := checkID(id); err != nil {
		return err
	}
	bundle, spec, raw, err := loadBundle(o.Bundle)
	if err != nil {
		return err
	}
	sbName, err := chooseSandbox(o.Sandbox, spec, r.configFile())
	if err != nil {
		return err
	}
	sb, err := r.sandbox(sbName)
	if err != nil {
		return err
	}
	terminal := spec.Process.Terminal
	if terminal && o.ConsoleSocket == "" {
		return fmt.Errorf("%w: process.terminal is true but no --console-socket was given", ErrBadConfig)
	}
	if !terminal && o.ConsoleSocket != "" {
		return fmt.Errorf("--console-socket given but process.terminal is false")
	}
	s := r.store()
	if err := s.make(id); err != nil {
		return err
	}
	unlock, err := s.lock(id)
	if err != nil {
		s.remove(id)
		return err
	}
	defer unlock()
	me := os.Getpid()
	myStart, _ := pidStart(me)
	rec := &Record{
		State: specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating,
			Bundle: bundle, Annotations: spec.Annotations},
		Created: time.Now().UTC(), Sandbox: sbName, Creator: me, CreatorStart: myStart,
	}
	if err := s.save(rec); err != nil {
		s.remove(id)
		return err
	}
	var proc *os.Process
	defer func() {
		if err == nil {
			return
		}
		// Nothing half-made stays: the sandbox process (and with it the
		// container's init, through its parent-death signal) and the
		// state directory go.
		if proc != nil {
			proc.Kill()
			proc.Wait()
			r.cleanupVMNetwork(rec, spec) // what the killed VMM left (vmnet.go)
		}
		s.remove(id)
	}()
	dir := s.dir(id)
	// The config as it was at create: later edits of the bundle's must not
	// change the container (its hooks, exec's defaults).
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o600); err != nil {
		return err
	}
	var res *Created
	res, err = sb.Create(&CreateRequest{Dir: dir, ID: id, Bundle: bundle, Spec: spec, Raw: raw,
		ConsoleSocket: o.ConsoleSocket, Stdio: o.Stdio, ExtraFiles: o.ExtraFiles, Created: rec.Created})
	if res != nil {
		proc = res.Process
	}
	if err != nil {
		return err
	}
	rec.Pid = proc.Pid
	rec.PidStart, _ = pidStart(proc.Pid)
	rec.ContainerPid = res.ContainerPid
	rec.Status = specs.StateCreated
	rec.Creator, rec.CreatorStart = 0, 0
	// The host's hooks run here, in the runtime's namespaces, whatever the
	// sandbox (a VM's guest cannot see host paths). A failing prestart or
	// createRuntime hook fails the create, and nothing of it stays.
	if h := spec.Hooks; h != nil {
		st := stateJSON(rec)
		if err := hooks.Run("prestart", h.Prestart, st); err != nil {
			return err
		}
		if err := hooks.Run("createRuntime", h.CreateRuntime, st); err != nil {
			return err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.Pid); err != nil {
			return fmt.Errorf("--pid-file: %w", err)
		}
	}
	if err := s.save(rec); err != nil {
		return err
	}
	proc.Release()
	r.log().Debug("created", "id", id, "sandbox", sbName, "pid", rec.Pid, "containerPid", res.ContainerPid)
	return nil
}

func (r *Runtime) configFile() string {
	if r.ConfigFile != "" {
		return r.ConfigFile
	}
	return DefaultConfigFile
}

// agentError adds the end of the agent's log to err: when the agent died,
// that is where the reason is.
func agentError(err error, dir string) error {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return errors.New(pe.Message)
	}
	return withLastLine(err, filepath.Join(dir, "agent.log"), "agent")
}

// withLastLine adds the last line of the log at path to err, labelled:
// when a sandbox process died, that is where it said why.
func withLastLine(err error, path, label string) error {
	b, _ := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); s != "" {
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		return fmt.Errorf("%w (%s: %s)", err, label, s)
	}
	return err
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// sendConsole hands the pty master to the --console-socket listener, as
// runc does: one SCM_RIGHTS message whose data is the master's name.
func sendConsole(path string, master *os.File) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("--console-socket %s is not a Unix socket", path)
	}
	name := master.Name()
	if name == "" {
		name = "/dev/ptmx"
	}
	if _, _, err := uc.WriteMsgUnix([]byte(name), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("--console-socket: sending the terminal: %w", err)
	}
	return nil
}

// connect opens a control connection to a container's agent.
func (r *Runtime) connect(rec *Record) (*proto.Client, error) {
	sb, err := r.sandbox(rec.Sandbox)
	if err != nil {
		return nil, err
	}
	c, err := sb.Dial(r.store().dir(rec.ID))
	if err != nil {
		return nil, fmt.Errorf("container %s: cannot reach its agent: %w", rec.ID, err)
	}
	return proto.NewClient(c)
}

// State returns a container's state, with the status corrected for a
// sandbox that has gone.
func (r *Runtime) State(id string) (*Record, error) {
	rec, err := r.store().load(id)
	if err != nil {
		return nil, err
	}
	return rec.current(), nil
}

// stateJSON is the runtime-spec state that hooks read on stdin.
func stateJSON(rec *Record) []byte {
	b, _ := json.Marshal(&rec.State)
	return b
}

// Start starts a created container's process.
func (r *Runtime) Start(id string) error {
	rec, unlock, err := r.locked(id)
	if err != nil {
		return err
	}
	defer unlock()
	if rec.Status != specs.StateCreated {
		return fmt.Errorf("%w: cannot start container %s: it is %s, not created", ErrState, id, rec.Status)
	}
	cl, err := r.connect(rec)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Call(proto.OpStart, &proto.IDArgs{ID: id}, nil); err != nil {
		return agentError(err, r.store().dir(id))
	}
	rec.Status = specs.StateRunning
	if err := r.store().save(rec); err != nil {
		return err
	}
	if rec.Sandbox == SandboxVM {
		LogVMPhase(r.log(), id, VMPhase{Name: PhaseContainerStarted, At: time.Since(rec.Created)})
	}
	if spec, err := ReadSpec(r.store().dir(id)); err == nil && spec.Hooks != nil {
		// runtime-spec: a failing poststart hook is logged; the container runs on.
		if err := hooks.RunAll("poststart", spec.Hooks.Poststart, stateJSON(rec)); err != nil {
			r.log().Warn("poststart hook failed", "id", id, "err", err)
			fmt.Fprintf(os.Stderr, "hull: warning: %v\n", err)
		}
	}
	return nil
}

// locked loads a container's record under its lock, with the current
// status.
func (r *Runtime) locked(id string) (*Record, func(), error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	s := r.store()
	unlock, err := s.lock(id)
	if err != nil {
		return nil, nil, err
	}
	rec, err := s.load(id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return rec.current(), unlock, nil
}

// Kill sends sig to the container's process, or with all to every process
// in it.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	rec, unlock, err := r.locked(id)
	if err != nil {
		return err
	}
	defer unlock()
	switch rec.Status {
	case specs.StateCreated, specs.StateRunning, "paused":
	default:
		return fmt.Errorf("%w: cannot kill container %s: it is %s", ErrState, id, rec.Status)
	}
	return r.signal(rec, sig, all)
}

func (r *Runtime) signal(rec *Record, sig unix.Signal, all bool) error {
	if rec.Sandbox == SandboxVM && rec.Status == "paused" {
		// The guest cannot take a signal while its vCPUs are stopped;
		// SIGKILL ends the VM, and the container with it.
		if sig != unix.SIGKILL {
			return fmt.Errorf("%w: container %s is paused (its VM's vCPUs are stopped): resume it to deliver %v", ErrState, rec.ID, sig)
		}
		return unix.Kill(rec.Pid, unix.SIGKILL)
	}
	cl, err := r.connect(rec)
	if err == nil {
		defer cl.Close()
		_, err = cl.Call(proto.OpSignal, &proto.SignalArgs{ID: rec.ID, Signal: int(sig), All: all}, nil)
		if err == nil {
			return nil
		}
		var pe *proto.Error
		if errors.As(err, &pe) {
			return errors.New(pe.Message)
		}
	}
	// The agent does not answer: the signal goes to the sandbox process,
	// whose end takes the container with it.
	r.log().Warn("agent unreachable; signalling the sandbox process", "id", rec.ID, "err", err)
	if kerr := unix.Kill(rec.Pid, sig); kerr != nil {
		return fmt.Errorf("container %s: %v; and signalling pid %d: %v", rec.ID, err, rec.Pid, kerr)
	}
	return nil
}

// Delete removes a stopped container, or with force one in any state
// (killed first). Poststop hooks run before it returns.
func (r *Runtime) Delete(id string, force bool) error {
	rec, unlock, err := r.locked(id)
	if err != nil {
		return err
	}
	defer unlock()
	switch rec.Status {
	case specs.StateStopped, specs.StateCreating:
	default:
		if !force {
			return fmt.Errorf("%w: cannot delete container %s that is not stopped: %s (use --force)", ErrState, id, rec.Status)
		}
		r.kill(rec)
	}
	if spec, err := ReadSpec(r.store().dir(id)); err == nil {
		r.cleanupVMNetwork(rec, spec) // vmnet.go
	}
	var hookErr error
	if bundleSpec, err := ReadSpec(r.store().dir(id)); err == nil && bundleSpec.Hooks != nil {
		st := *rec
		st.Status = specs.StateStopped
		hookErr = hooks.RunAll("poststop", bundleSpec.Hooks.Poststop, stateJSON(&st))
		if hookErr != nil {
			r.log().Warn("poststop hook failed", "id", id, "err", hookErr)
		}
	}
	if err := r.store().remove(id); err != nil {
		return fmt.Errorf("removing the state of %s: %w", id, err)
	}
	return nil
}

// kill ends a container's sandbox for good: every container process, then
// the sandbox process, waiting until it is gone.
func (r *Runtime) kill(rec *Record) {
	if !rec.alive() {
		return
	}
	_ = r.signal(rec, unix.SIGKILL, true)
	_ = unix.Kill(rec.Pid, unix.SIGKILL)
	for i := 0; i < 500 && rec.alive(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// ReadSpec reads the config a container was created with (its copy in
// the state directory dir).
func ReadSpec(dir string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	return &s, json.Unmarshal(b, &s)
}

// List returns every container's current record.
func (r *Runtime) List() ([]*Record, error) {
	ids, err := r.store().ids()
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, id := range ids {
		rec, err := r.store().load(id)
		if err != nil {
			continue // deleted meanwhile, or not ours to read
		}
		out = append(out, rec.current())
	}
	return out, nil
}

// StartAndWait starts a created container and returns a function that
// waits for its process's end. The wait is with the agent before the
// process starts, so even a process that exits at once is seen (run).
func (r *Runtime) StartAndWait(id string) (func() (proto.WaitResult, error), error) {
	rec, err := r.State(id)
	if err != nil {
		return nil, err
	}
	cl, err := r.connect(rec)
	if err != nil {
		return nil, err
	}
	recv, err := cl.Send(proto.OpWait, &proto.IDArgs{ID: id})
	if err != nil {
		cl.Close()
		return nil, err
	}
	wait := func() (proto.WaitResult, error) {
		defer cl.Close()
		var w proto.WaitResult
		_, err := recv(&w)
		return w, err
	}
	if err := r.Start(id); err != nil {
		cl.Close()
		recv(nil)
		return nil, err
	}
	return wait, nil
}

// Wait blocks until the container's process (or exec) exits.
func (r *Runtime) Wait(id, exec string) (proto.WaitResult, error) {
	rec, err := r.State(id)
	if err != nil {
		return proto.WaitResult{}, err
	}
	cl, err := r.connect(rec)
	if err != nil {
		return proto.WaitResult{}, err
	}
	defer cl.Close()
	var w proto.WaitResult
	_, err = cl.Call(proto.OpWait, &proto.IDArgs{ID: id, Exec: exec}, &w)
	return w, err
}

// Ps lists the container's processes.
func (r *Runtime) Ps(id string) ([]int, error) {
	rec, err := r.State(id)
	if err != nil {
		return nil, err
	}
	if rec.Status == specs.StateStopped {
		return nil, fmt.Errorf("%w: container %s is stopped", ErrState, id)
	}
	cl, err := r.connect(rec)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var p proto.PsResult
	if _, err := cl.Call(proto.OpPs, &proto.IDArgs{ID: id}, &p); err != nil {
		return nil, err
	}
	return p.Pids, nil
}

// Pause freezes every process of a running container; Resume thaws them.
func (r *Runtime) Pause(id string) error { return r.freeze(id, true) }

// Resume undoes Pause.
func (r *Runtime) Resume(id string) error { return r.freeze(id, false) }

func (r *Runtime) freeze(id string, pause bool) error {
	rec, unlock, err := r.locked(id)
	if err != nil {
		return err
	}
	defer unlock()
	op, want, to := proto.OpPause, specs.StateRunning, specs.ContainerState("paused")
	if !pause {
		op, want, to = proto.OpResume, "paused", specs.StateRunning
	}
	if rec.Status != want {
		return fmt.Errorf("%w: container %s is %s, not %s", ErrState, id, rec.Status, want)
	}
	if rec.Sandbox == SandboxVM {
		// The whole VM stops: its vCPUs leave the guest until resume.
		if err := vmFreeze(r.store().dir(id), pause); err != nil {
			return err
		}
		rec.Status = to
		return r.store().save(rec)
	}
	cl, err := r.connect(rec)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Call(op, &proto.IDArgs{ID: id}, nil); err != nil {
		return agentError(err, r.store().dir(id))
	}
	rec.Status = to
	return r.store().save(rec)
}

// ExecOptions are exec's flags.
type ExecOptions struct {
	ConsoleSocket string
	PidFile       string
	Detach        bool
	Stdio         [3]*os.File
	ExtraFiles    []*os.File
}

// Exec runs another process in a running container. Without Detach it
// waits and returns how the process ended.
func (r *Runtime) Exec(id string, p *specs.Process, o ExecOptions) (proto.WaitResult, error) {
	rec, err := r.State(id)
	if err != nil {
		return proto.WaitResult{}, err
	}
	if rec.Status != specs.StateRunning {
		return proto.WaitResult{}, fmt.Errorf("%w: cannot exec in container %s: it is %s, not running", ErrState, id, rec.Status)
	}
	if p.Terminal && o.ConsoleSocket == "" {
		return proto.WaitResult{}, fmt.Errorf("--tty needs --console-socket")
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return proto.WaitResult{}, err
	}
	cl, err := r.connect(rec)
	if err != nil {
		return proto.WaitResult{}, err
	}
	defer cl.Close()
	name := fmt.Sprintf("exec-%d-%d", os.Getpid(), time.Now().UnixNano())
	if rec.Sandbox == SandboxVM {
		return r.execVM(cl, id, name, p, raw, o) // vmexec.go
	}
	args := &proto.ExecArgs{ID: id, Exec: name, Process: raw, Stdio: proto.StdioFDs, Terminal: p.Terminal,
		ExtraFDs: len(o.ExtraFiles)}
	var files []*os.File
	if !p.Terminal {
		files = append(files, o.Stdio[:]...)
	}
	files = append(files, o.ExtraFiles...)
	var res proto.CreateResult
	fds, err := cl.Call(proto.OpExec, args, &res, files...)
	if err != nil {
		return proto.WaitResult{}, agentError(err, r.store().dir(id))
	}
	defer closeFiles(fds)
	if p.Terminal {
		if len(fds) != 1 {
			return proto.WaitResult{}, fmt.Errorf("the agent returned %d descriptors for the terminal, want 1", len(fds))
		}
		if err := sendConsole(o.ConsoleSocket, fds[0]); err != nil {
			return proto.WaitResult{}, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, res.Pid); err != nil {
			return proto.WaitResult{}, fmt.Errorf("--pid-file: %w", err)
		}
	}
	if o.Detach {
		return proto.WaitResult{}, nil
	}
	var w proto.WaitResult
	if _, err := cl.Call(proto.OpWait, &proto.IDArgs{ID: id, Exec: name}, &w); err != nil {
		return proto.WaitResult{}, err
	}
	return w, nil
}

// Signal sends sig to the container's process without the lock: run's
// signal forwarding, while another command may hold it.
func (r *Runtime) Signal(id string, sig unix.Signal) error {
	rec, err := r.State(id)
	if err != nil {
		return err
	}
	return r.signal(rec, sig, false)
}

// Spec returns the config container id was created with.
func (r *Runtime) Spec(id string) (*specs.Spec, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s, err := ReadSpec(r.store().dir(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	return s, err
}
