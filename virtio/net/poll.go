package net

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func epollAdd(epfd, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// poller waits on the receive loop's epoll set through Go's network
// poller (an epoll fd is itself pollable), so the loop parks without
// holding a thread, then collects the events with a non-blocking
// epoll_wait (virtio/vsock's poller).
type poller struct {
	f  *os.File
	rc syscall.RawConn
}

// newPoller takes ownership of epfd, also when it fails; close closes it.
func newPoller(epfd int) (*poller, error) {
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd) // the fcntl error is the one to report
		return nil, fmt.Errorf("net: epoll fd: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "virtio-net-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close() // the SyscallConn error is the one to report
		return nil, fmt.Errorf("net: epoll fd: %w", err)
	}
	return &poller{f: f, rc: rc}, nil
}

// wait blocks until at least one event is ready and returns them.
func (p *poller) wait(events []unix.EpollEvent) (int, error) {
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

func (p *poller) close() error { return p.f.Close() }
