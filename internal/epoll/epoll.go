// Package epoll is the one epoll wait loop of hull's device backends
// (virtio-vsock's muxer, virtio-net's receive loop): an epoll instance
// waited on through Go's network poller (an epoll fd is itself pollable),
// so the waiting goroutine parks without holding a thread and its P, and
// on a busy host the goroutines it wakes are not delayed until the
// runtime retakes a P stuck in epoll_wait. Events are then collected with
// a non-blocking epoll_wait.
package epoll

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Add adds fd to the epoll instance epfd for events, with fd as the
// event's data.
func Add(epfd, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// Poller waits on one epoll instance.
type Poller struct {
	f  *os.File
	rc syscall.RawConn
}

// NewPoller takes ownership of epfd, also when it fails; Close closes it.
// name appears in errors and in the descriptor's name.
func NewPoller(epfd int, name string) (*Poller, error) {
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd) // the fcntl error is the one to report
		return nil, fmt.Errorf("%s: epoll fd: %w", name, err)
	}
	f := os.NewFile(uintptr(epfd), name+"-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close() // the SyscallConn error is the one to report
		return nil, fmt.Errorf("%s: epoll fd: %w", name, err)
	}
	return &Poller{f: f, rc: rc}, nil
}

// Wait blocks until at least one event is ready and returns how many it
// put in events.
func (p *Poller) Wait(events []unix.EpollEvent) (int, error) {
	var n int
	var werr error
	err := p.rc.Read(func(fd uintptr) bool {
		for {
			n, werr = unix.EpollWait(int(fd), events, 0)
			if werr != unix.EINTR {
				return n > 0 || werr != nil
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return n, werr
}

// Close closes the epoll instance; a Wait in progress returns an error.
func (p *Poller) Close() error { return p.f.Close() }
