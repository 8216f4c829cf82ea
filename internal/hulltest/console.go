package hulltest

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ConsoleSocket listens on path as a --console-socket does for runc's
// callers (containerd, runtime-tools): it accepts one connection and
// takes the pty master from its one SCM_RIGHTS message. The channel
// yields the master, non-blocking so that read deadlines work, or nil when
// none arrived within timeout or the message was not one descriptor.
//
//	master := hulltest.ConsoleSocket(t, sock, time.Minute)
//	... hull create --console-socket sock ...
//	m := <-master
func ConsoleSocket(t testing.TB, path string, timeout time.Duration) <-chan *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	master := make(chan *os.File, 1)
	go func() {
		defer l.Close()
		master <- receiveMaster(l, timeout)
	}()
	return master
}

func receiveMaster(l *net.UnixListener, timeout time.Duration) *os.File {
	deadline := time.Now().Add(timeout)
	if err := l.SetDeadline(deadline); err != nil {
		return nil
	}
	c, err := l.AcceptUnix()
	if err != nil {
		return nil
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return nil
	}
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 4096), oob)
	if err != nil {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil
	}
	return os.NewFile(uintptr(fds[0]), "pty-master")
}
