package agent

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/container"
)

// fakeRuntime stands in a plain host process for a container: the
// process.args of the config run, at Start, on the stdio the Server gave
// Create (with a terminal, as a session leader with the pty's slave as
// its controlling terminal). No root, no root file system.
type fakeRuntime struct {
	mu      sync.Mutex
	created []container.Options // what Create was given
	fail    error               // Create fails with it
}

func (r *fakeRuntime) Create(o container.Options) (ctrHandle, error) {
	r.mu.Lock()
	r.created = append(r.created, o)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	// The Server closes its copies once Create returns, as
	// container.Create's init has its own by then.
	var files [3]*os.File
	for i, f := range []*os.File{o.Stdin, o.Stdout, o.Stderr} {
		d, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeFiles(files[:])
			return nil, err
		}
		files[i] = os.NewFile(uintptr(d), f.Name())
	}
	return &fakeCtr{args: o.Spec.Process.Args, files: files, terminal: o.Terminal, done: make(chan struct{})}, nil
}

func (r *fakeRuntime) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

func (r *fakeRuntime) options() []container.Options {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]container.Options(nil), r.created...)
}

type fakeCtr struct {
	args     []string
	terminal bool

	mu      sync.Mutex
	files   [3]*os.File // until Start
	cmd     *exec.Cmd
	started bool
	ended   bool
	ws      unix.WaitStatus
	done    chan struct{}
}

func startCmd(args []string, files [3]*os.File, terminal bool) (*exec.Cmd, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	if terminal {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	return cmd, cmd.Start()
}

func waitStatus(cmd *exec.Cmd) unix.WaitStatus {
	_ = cmd.Wait() // the status is in ProcessState
	return unix.WaitStatus(cmd.ProcessState.Sys().(syscall.WaitStatus))
}

func (c *fakeCtr) end(ws unix.WaitStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.ended = true
		c.ws = ws
		close(c.done)
	}
}

func (c *fakeCtr) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

func (c *fakeCtr) Start() error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("started twice")
	}
	c.started = true
	files := c.files
	c.files = [3]*os.File{}
	cmd, err := startCmd(c.args, files, c.terminal)
	closeFiles(uniq(files[:]...))
	if err == nil {
		c.cmd = cmd
	}
	c.mu.Unlock()
	if err != nil {
		c.end(unix.WaitStatus(127 << 8))
		return err
	}
	go func() { c.end(waitStatus(cmd)) }()
	return nil
}

func (c *fakeCtr) Wait() (unix.WaitStatus, error) {
	<-c.done
	return c.ws, nil
}

func (c *fakeCtr) Signal(sig unix.Signal) error {
	c.mu.Lock()
	cmd, started := c.cmd, c.started
	if !started {
		closeFiles(uniq(c.files[:]...))
		c.files = [3]*os.File{}
	}
	c.mu.Unlock()
	if !started {
		c.end(unix.WaitStatus(sig)) // killed before it ran
		return nil
	}
	if cmd == nil {
		return errors.New("not running")
	}
	return cmd.Process.Signal(sig)
}

func (c *fakeCtr) SignalAll(sig unix.Signal) error { return c.Signal(sig) }
func (c *fakeCtr) Pids() ([]int, error)            { return []int{c.Pid()}, nil }
func (c *fakeCtr) Pause() error                    { return c.Signal(unix.SIGSTOP) }
func (c *fakeCtr) Resume() error                   { return c.Signal(unix.SIGCONT) }

func (c *fakeCtr) Exec(p *specs.Process, stdin, stdout, stderr *os.File, terminal bool) (procHandle, error) {
	cmd, err := startCmd(p.Args, [3]*os.File{stdin, stdout, stderr}, terminal)
	if err != nil {
		return nil, err
	}
	fp := &fakeProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		fp.ws = waitStatus(cmd)
		close(fp.done)
	}()
	return fp, nil
}

type fakeProc struct {
	cmd  *exec.Cmd
	ws   unix.WaitStatus
	done chan struct{}
}

func (p *fakeProc) PID() int                       { return p.cmd.Process.Pid }
func (p *fakeProc) Wait() (unix.WaitStatus, error) { <-p.done; return p.ws, nil }
func (p *fakeProc) Signal(sig unix.Signal) error   { return p.cmd.Process.Signal(sig) }

// fakeMounter records mounts and unmounts; Mount makes the target as
// linuxSystem does.
type fakeMounter struct {
	mu      sync.Mutex
	mounts  []Mount
	unmount []string
	fail    error // Mount fails with it
}

func (m *fakeMounter) Mount(mt Mount) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mounts = append(m.mounts, mt)
	if m.fail != nil {
		return m.fail
	}
	return os.MkdirAll(mt.Target, 0o755)
}

func (m *fakeMounter) Unmount(target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unmount = append(m.unmount, target)
	return nil
}

func (m *fakeMounter) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *fakeMounter) calls() ([]Mount, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mount(nil), m.mounts...), append([]string(nil), m.unmount...)
}

// fakeReaper is a container.Reaper that is only compared.
type fakeReaper struct{}

func (fakeReaper) Start(func() (int, error)) (int, <-chan unix.WaitStatus, error) {
	return 0, nil, errors.New("fakeReaper starts nothing")
}
