package container

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// proc is a child this package started: the init of a container or an
// Exec'd process.
type proc struct {
	pid int

	mu     sync.Mutex
	pidfd  int // -1 when the kernel gave none or once reaped
	done   chan struct{}
	status unix.WaitStatus
	err    error // the status could not be collected
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait blocks until the child has been reaped.
func (p *proc) wait() (unix.WaitStatus, error) {
	<-p.done
	return p.status, p.err
}

// signal sends sig through the pidfd when there is one, so a recycled
// pid can never be hit.
func (p *proc) signal(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited() {
		return ErrExited
	}
	var err error
	if p.pidfd >= 0 {
		err = unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	} else {
		err = unix.Kill(p.pid, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		return ErrExited // a zombie not yet reaped
	}
	if err != nil {
		return fmt.Errorf("signal %v to %d: %w", sig, p.pid, err)
	}
	return nil
}

// kill sends SIGKILL and waits for the child to be reaped.
func (p *proc) kill() {
	_ = p.signal(unix.SIGKILL) // ErrExited is fine: it is gone either way
	_, _ = p.wait()            // only that it is gone matters here
}

func (p *proc) setExited(ws unix.WaitStatus, err error) {
	p.mu.Lock()
	p.status, p.err = ws, err
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd) // our own pidfd
		p.pidfd = -1
	}
	close(p.done)
	p.mu.Unlock()
}

// spawnSpec is one child to start.
type spawnSpec struct {
	argv  []string
	env   []string
	files []*os.File // the child's fds 0, 1, 2, ...
	sys   syscall.SysProcAttr
	join  []nsFile // namespaces the spawning thread joins first
}

// spawn starts a child from a goroutine locked to its OS thread, which
// first joins s.join, and which lives until the child has been reaped:
// the child's parent-death signal fires when the thread that forked it
// exits, not the process (go.dev/issue/27505). A thread that joined
// namespaces is never given back to the Go scheduler: it exits with its
// goroutine.
func spawn(s spawnSpec, reaper Reaper) (*proc, error) {
	p := &proc{pidfd: -1, done: make(chan struct{})}
	type result struct {
		pid, pidfd int
		err        error
	}
	start := func() (int, error) {
		res := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			if err := joinOnThisThread(s.join); err != nil {
				res <- result{err: err}
				return // the thread may be half-joined: let it die
			}
			pidfd := -1
			attr := s.sys
			attr.PidFD = &pidfd
			fds := make([]uintptr, len(s.files))
			for i, f := range s.files {
				fds[i] = f.Fd()
			}
			pid, err := syscall.ForkExec(s.argv[0], s.argv, &syscall.ProcAttr{Env: s.env, Files: fds, Sys: &attr})
			runtime.KeepAlive(s.files)
			if err != nil {
				res <- result{err: fmt.Errorf("start %s: %w", s.argv[0], err)}
				if len(s.join) == 0 {
					runtime.UnlockOSThread()
				}
				return
			}
			res <- result{pid: pid, pidfd: pidfd}
			<-p.done // stay the child's parent thread until it is gone
			if len(s.join) == 0 {
				runtime.UnlockOSThread()
			}
		}()
		r := <-res
		if r.err != nil {
			return 0, r.err
		}
		p.pid, p.pidfd = r.pid, r.pidfd
		return r.pid, nil
	}
	if reaper != nil {
		_, status, err := reaper.Start(start)
		if err != nil {
			return nil, err
		}
		go func() { p.setExited(<-status, nil) }()
		return p, nil
	}
	if _, err := start(); err != nil {
		return nil, err
	}
	go func() {
		for {
			var ws unix.WaitStatus
			_, err := unix.Wait4(p.pid, &ws, 0, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				// ECHILD: someone else reaped it (a reaper the caller
				// did not pass in Options). The status is lost.
				err = fmt.Errorf("wait4 %d: %w (is another reaper running? see Options.Reaper)", p.pid, err)
			}
			p.setExited(ws, err)
			return
		}
	}()
	return p, nil
}
