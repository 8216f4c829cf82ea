package runtime

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// Terminals in the vm sandbox. The container's (or an exec's) terminal is
// a pty in the guest, made by the agent (stdio "stream" with a terminal:
// one "stdout" stream carries the guest master's output, "stdin" writes
// to it, OpResize sets its size). The caller of `hull create` or `hull
// exec --tty` wants a pty master of its own through --console-socket, as
// runc gives it. So the host makes a second pty: its master goes to the
// console socket (sendConsole, runc's message), its slave is bridged to
// the guest's streams by a relaying process:
//
//	caller ⇄ host master ⇄ host slave (raw) ⇄ streams ⇄ guest master ⇄ guest slave ⇄ process
//
// The host slave is raw, so there is one line discipline: the guest's
// (echo, ^C, \n → \r\n all happen there). The relaying process — the VMM
// for a container's process, `hull __vm-relay` for an exec — runs in a
// session of its own with the host slave as its controlling terminal, so
// a window-size change on the master (TIOCSWINSZ, as containerd does)
// sends it SIGWINCH; it then reads the slave's size and sends OpResize. The
// initial size (process.consoleSize, else the master's) is sent the same
// way before the master leaves `hull create`/`hull exec`, and the relay
// listens for SIGWINCH before reading it, so no resize is lost. A caller
// that closes the master hangs the host slave up: the relaying process
// gets SIGHUP, which goes on to the container's (the exec's) process, as
// the kernel would send it with runc, and output is then discarded.

// hostTTY is the host pty of a vm-sandbox terminal.
type hostTTY struct {
	master, slave *os.File // blocking descriptors
}

// newHostTTY opens the host pty, makes the slave raw and, when size is
// set (process.consoleSize), gives the pty that window size.
func newHostTTY(size *specs.Box) (*hostTTY, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("terminal: opening /dev/ptmx: %w", err)
	}
	fail := func(err error, fds ...int) (*hostTTY, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("terminal: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return fail(fmt.Errorf("unlocking the pty: %w", err), mfd)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return fail(fmt.Errorf("pty number: %w", err), mfd)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("opening %s: %w", name, err), mfd)
	}
	if err := makeRaw(sfd); err != nil {
		return fail(err, mfd, sfd)
	}
	if size != nil && size.Width > 0 && size.Height > 0 {
		if size.Width > 0xffff || size.Height > 0xffff {
			return fail(fmt.Errorf("consoleSize %dx%d is larger than a terminal can be", size.Width, size.Height), mfd, sfd)
		}
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, ws); err != nil {
			return fail(fmt.Errorf("TIOCSWINSZ: %w", err), mfd, sfd)
		}
	}
	return &hostTTY{master: os.NewFile(uintptr(mfd), "/dev/ptmx"), slave: os.NewFile(uintptr(sfd), name)}, nil
}

// Close closes this process's copies of both ends.
func (t *hostTTY) Close() {
	t.master.Close()
	t.slave.Close()
}

// makeRaw puts a terminal in raw mode, as cfmakeraw(3) does: no echo, no
// signals from characters, no translation of input or output.
func makeRaw(fd int) error {
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("TCGETS: %w", err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		return fmt.Errorf("TCSETS: %w", err)
	}
	return nil
}

// ttyProcAttr starts a relaying process in a session of its own with its
// descriptor ctty (the host slave) as its controlling terminal: it gets
// SIGWINCH when the master's window size changes, and SIGHUP when the
// master is closed.
func ttyProcAttr(ctty int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: ctty}
}

// TTYFile turns an inherited host slave (descriptor fd) into a file Go's
// poller serves, so that a close or the process's end interrupts reads.
func TTYFile(fd int) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("terminal descriptor %d: %w", fd, err)
	}
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return nil, fmt.Errorf("descriptor %d is not a terminal: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), "tty"), nil
}

// AttachTerminal bridges the host slave to the terminal streams of a
// process (exec empty: the container's) and keeps the guest terminal's
// size that of the slave: now, and at every SIGWINCH (the slave must be
// the caller's controlling terminal for that). The returned function
// waits until the process's output has ended and been written to the
// slave; it then stops the resizing.
func AttachTerminal(sb Sandbox, dir, id, exec string, slave *os.File, logf func(string, ...any)) (func(time.Duration) bool, error) {
	out, err := dialStream(sb, dir, id, exec, "stdout")
	if err != nil {
		return nil, err
	}
	in, err := dialStream(sb, dir, id, exec, "stdin")
	if err != nil {
		out.Close()
		return nil, err
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	rz := &resizer{slave: slave, logf: logf, send: func(w, h uint16) error {
		return CallAgent(sb, dir, proto.OpResize, &proto.ResizeArgs{ID: id, Exec: exec, Width: w, Height: h}, nil)
	}}
	// The size the pty has now: anything later comes as SIGWINCH.
	if err := rz.update(); err != nil {
		signal.Stop(winch)
		out.Close()
		in.Close()
		return nil, err
	}
	stop := make(chan struct{})
	go rz.watch(winch, stop)
	done := bridgeTerminal(slave, in, out, logf)
	var once sync.Once
	return func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			return false
		}
		once.Do(func() {
			signal.Stop(winch)
			close(stop)
			in.Close()
		})
		return true
	}, nil
}

// bridgeTerminal copies the host slave to the stdin stream and the stdout
// stream to the slave; the channel closes when the stdout stream has
// ended and all of it has been written (or discarded: a hung-up slave,
// whose master the caller closed, takes nothing more).
func bridgeTerminal(slave *os.File, in net.Conn, out io.ReadCloser, logf func(string, ...any)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer out.Close()
		if err := copyPlain(slave, out); err != nil && !ttyGone(err) {
			logf("terminal output: %v", err)
		}
		// The slave takes no more: keep reading so that the guest's
		// process is not blocked on a full terminal, as with a hung-up tty.
		if err := copyPlain(io.Discard, out); err != nil && !errors.Is(err, net.ErrClosed) {
			logf("terminal output: %v", err)
		}
	}()
	go func() {
		// The slave's EOF (EIO once hung up) ends the input: the agent
		// closes its copy of the guest's master, which the process does
		// not see.
		if err := copyPlain(in, slave); err != nil && !ttyGone(err) && !errors.Is(err, net.ErrClosed) {
			logf("terminal input: %v", err)
		}
		var err error
		if cw, ok := in.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
		} else {
			err = in.Close()
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			logf("terminal input: closing: %v", err)
		}
	}()
	return done
}

// copyPlain copies with read and write only: no splice or sendfile
// between a socket and a terminal.
func copyPlain(dst io.Writer, src io.Reader) error {
	_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 32<<10))
	return err
}

// ttyGone reports whether err means the terminal is gone: EIO on a
// hung-up pty, or the file closed.
func ttyGone(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, os.ErrClosed)
}

// resizer keeps the guest terminal's size the host slave's.
type resizer struct {
	slave      *os.File
	send       func(width, height uint16) error
	logf       func(string, ...any)
	last       unix.Winsize
	lastIsSent bool
}

// update reads the slave's size and sends it when it changed; a pty
// nobody sized (0x0) is left as the guest made it.
func (r *resizer) update() error {
	ws, err := winsize(r.slave)
	if err != nil {
		return err
	}
	if ws.Row == 0 && ws.Col == 0 {
		return nil
	}
	if r.lastIsSent && ws.Row == r.last.Row && ws.Col == r.last.Col {
		return nil
	}
	if err := r.send(ws.Col, ws.Row); err != nil {
		return fmt.Errorf("terminal size %dx%d: %w", ws.Col, ws.Row, err)
	}
	r.last, r.lastIsSent = ws, true
	return nil
}

// watch updates the size at every signal until stop closes.
func (r *resizer) watch(ticks <-chan os.Signal, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ticks:
			if err := r.update(); err != nil {
				r.logf("%v", err)
			}
		}
	}
}

// winsize reads a terminal's window size without taking the file out of
// Go's poller (as Fd would).
func winsize(f *os.File) (unix.Winsize, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return unix.Winsize{}, err
	}
	var ws *unix.Winsize
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ws, ioErr = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) }); err != nil {
		return unix.Winsize{}, err
	}
	if ioErr != nil {
		return unix.Winsize{}, fmt.Errorf("TIOCGWINSZ: %w", ioErr)
	}
	return *ws, nil
}

// dialStream attaches one stdio stream of a process (StdioStream).
func dialStream(sb Sandbox, dir, id, exec, stream string) (net.Conn, error) {
	c, err := sb.Dial(dir)
	if err != nil {
		return nil, err
	}
	pc := proto.NewConn(c)
	if _, err := pc.ClientHello(proto.RoleStream, &proto.StreamID{Container: id, Exec: exec, Stream: stream}); err != nil {
		c.Close()
		return nil, fmt.Errorf("attaching %s: %w", stream, err)
	}
	return c, nil
}

// CallAgent makes one request on a control connection of its own to the
// agent of the container whose state directory is dir.
func CallAgent(sb Sandbox, dir string, op proto.Op, args, result any) error {
	c, err := sb.Dial(dir)
	if err != nil {
		return err
	}
	cl, err := proto.NewClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Call(op, args, result)
	return err
}

// vmTerminal gives the VMM a container's terminal: the host pty's slave
// as its controlling terminal and descriptor --tty-fd; its stdin and
// stdout are /dev/null and its stderr the log. The caller sends the
// master to the console socket once the container is created, and closes
// its copies.
func vmTerminal(cmd *exec.Cmd, size *specs.Box, logf *os.File) (*hostTTY, error) {
	tty, err := newHostTTY(size)
	if err != nil {
		return nil, err
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, tty.slave)
	cmd.Args = append(cmd.Args, "--tty-fd", strconv.Itoa(fd))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, logf
	cmd.SysProcAttr = ttyProcAttr(fd)
	return tty, nil
}
