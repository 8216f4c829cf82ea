package agent

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/container"
)

// reaper waits for every child of PID 1: its own (the debug shell, the
// container processes, through Start) and the orphans the kernel re-parents to it, so no
// zombie stays behind. Whoever starts a process through start gets its
// status on a channel; the rest are just reaped.
//
// The lock is held across both the start of a process and each reaping
// pass, so a child can never be reaped before its waiter is registered.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan unix.WaitStatus
	// wait is one non-blocking wait for any child: unix.Wait4(-1, ws,
	// WNOHANG, nil) except in tests.
	wait func(ws *unix.WaitStatus) (int, error)
}

func newReaper() *reaper {
	return &reaper{
		waiters: map[int]chan unix.WaitStatus{},
		wait: func(ws *unix.WaitStatus) (int, error) {
			return unix.Wait4(-1, ws, unix.WNOHANG, nil)
		},
	}
}

// reap collects every child that has exited (call it on each SIGCHLD,
// which the kernel coalesces) and returns how many it reaped.
func (r *reaper) reap() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := r.wait(&ws)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none has exited
			return n
		}
		n++
		if ch, ok := r.waiters[pid]; ok {
			ch <- ws // buffered: never blocks
			delete(r.waiters, pid)
		}
	}
}

// Start implements container.Reaper: it calls start, which starts one
// child, and registers the channel that child's status will arrive on,
// holding the lock across both, so no reaping pass can collect the child
// in between. Nobody must call Wait on the child: the reaper does.
func (r *reaper) Start(start func() (pid int, err error)) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

var _ container.Reaper = (*reaper)(nil)

// start starts a process whose exit status arrives on the returned channel.
func (r *reaper) start(path string, argv []string, attr *os.ProcAttr) (int, <-chan unix.WaitStatus, error) {
	return r.Start(func() (int, error) {
		p, err := os.StartProcess(path, argv, attr)
		if err != nil {
			return 0, err
		}
		pid := p.Pid
		_ = p.Release() // frees the pidfd, if any; the reaper waits by PID
		return pid, nil
	})
}
