package vsock

import (
	"fmt"

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
