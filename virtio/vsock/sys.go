package vsock

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Host sockets are raw non-blocking file descriptors owned by the muxer,
// which waits for them with epoll: the net package's poller would need a
// goroutine per socket and a copy through a Go buffer.

const sockFlags = unix.SOCK_STREAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// listenUnix binds and listens on path, which must not exist.
func listenUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, sockFlags, 0)
	if err != nil {
		return -1, fmt.Errorf("vsock: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		_ = unix.Close(fd) // the bind error is the one to report
		return -1, fmt.Errorf("vsock: bind %s: %w", path, err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("vsock: listen %s: %w", path, err)
	}
	return fd, nil
}

// connectUnix connects a non-blocking stream socket to path. A Unix socket
// connect completes at once or fails (EAGAIN: the listener's backlog is
// full; ECONNREFUSED, ENOENT: nothing listens): the muxer never waits.
func connectUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, sockFlags, 0)
	if err != nil {
		return -1, err
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd) // the connect error is the one the caller needs
		return -1, err
	}
	return fd, nil
}

// accept takes one pending client, non-blocking.
func accept(lfd int) (int, error) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// readv reads into bufs; n == 0 with a nil error is end of stream.
func readv(fd int, bufs [][]byte) (int, error) {
	for {
		n, err := unix.Readv(fd, bufs)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// writev writes bufs without raising SIGPIPE on a closed peer (EPIPE).
func writev(fd int, bufs [][]byte) (int, error) {
	for {
		n, err := unix.SendmsgBuffers(fd, bufs, nil, nil, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

func epollAdd(epfd, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// poller waits on the muxer's epoll instance through Go's network poller
// (an epoll fd is itself pollable): the muxer goroutine parks without
// holding a thread and its P, so on a busy host the goroutines it wakes
// (a host client's reader, the queue workers) are not delayed until the
// runtime retakes a P stuck in epoll_wait. It then collects the events
// with a non-blocking epoll_wait.
type poller struct {
	f  *os.File
	rc syscall.RawConn
}

// newPoller takes ownership of epfd, also when it fails; close closes it.
func newPoller(epfd int) (*poller, error) {
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd) // the fcntl error is the one to report
		return nil, fmt.Errorf("vsock: epoll fd: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "vsock-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close() // the SyscallConn error is the one to report
		return nil, fmt.Errorf("vsock: epoll fd: %w", err)
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
