package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// unixPair returns the two ends of a connected Unix stream socket pair:
// one stream connection, the relay's end and the agent's.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cs [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c.(*net.UnixConn)
		t.Cleanup(func() { cs[i].Close() })
	}
	return cs[0], cs[1]
}

// pollable returns a copy of f that Go's poller serves (deadlines work).
func pollable(t *testing.T, f *os.File) *os.File {
	t.Helper()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := TTYFile(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readFull reads exactly n bytes from r within 5 s.
func readFull(t *testing.T, r interface {
	io.Reader
	SetReadDeadline(time.Time) error
}, n int) string {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("reading %d bytes: %v (got %q)", n, err, buf)
	}
	return string(buf)
}

// readsNothing checks that r has nothing to read for a moment.
func readsNothing(t *testing.T, what string, r interface {
	io.Reader
	SetReadDeadline(time.Time) error
}) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 64)
	if n, err := r.Read(buf); n > 0 || !os.IsTimeout(err) {
		t.Errorf("%s: read %q, %v; want nothing", what, buf[:n], err)
	}
}

func TestHostTTYSize(t *testing.T) {
	tty, err := newHostTTY(&specs.Box{Height: 24, Width: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	ws, err := winsize(pollable(t, tty.slave))
	if err != nil {
		t.Fatal(err)
	}
	if ws.Row != 24 || ws.Col != 80 {
		t.Errorf("consoleSize 80x24: the pty is %dx%d", ws.Col, ws.Row)
	}
	if _, err := newHostTTY(&specs.Box{Height: 1 << 16, Width: 80}); err == nil {
		t.Error("a consoleSize of 65536 rows was accepted")
	}
	tio, err := unix.IoctlGetTermios(int(tty.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != 0 || tio.Oflag&unix.OPOST != 0 || tio.Iflag&unix.ICRNL != 0 {
		t.Errorf("the slave is not raw: lflag %#x oflag %#x iflag %#x", tio.Lflag, tio.Oflag, tio.Iflag)
	}
}

// TestBridgeTerminal: what the caller types on the master reaches the
// stdin stream byte for byte (no echo, no CR/NL translation: the guest's
// line discipline does that), the stdout stream reaches the master byte
// for byte, and the bridge ends with the stdout stream.
func TestBridgeTerminal(t *testing.T) {
	tty, err := newHostTTY(nil)
	if err != nil {
		t.Fatal(err)
	}
	master, slave := pollable(t, tty.master), pollable(t, tty.slave)
	tty.Close()
	inRelay, inAgent := unixPair(t)
	outRelay, outAgent := unixPair(t)
	done := bridgeTerminal(slave, inRelay, outRelay, t.Logf)

	if _, err := master.Write([]byte("echo hi\r\x03")); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, inAgent, 9); got != "echo hi\r\x03" {
		t.Errorf("stdin stream got %q, want the typed bytes unchanged", got)
	}
	readsNothing(t, "master (echo)", master)

	if _, err := outAgent.Write([]byte("hi\n\x1b[1m")); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, master, 7); got != "hi\n\x1b[1m" {
		t.Errorf("master got %q, want the output unchanged", got)
	}
	select {
	case <-done:
		t.Fatal("the bridge ended while the stdout stream is open")
	default:
	}
	outAgent.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the bridge did not end with the stdout stream")
	}
}

// TestBridgeTerminalHangup: a caller that closes the master ends the
// input (the stdin stream half-closes) and the output is then discarded,
// not left to block the guest's process.
func TestBridgeTerminalHangup(t *testing.T) {
	tty, err := newHostTTY(nil)
	if err != nil {
		t.Fatal(err)
	}
	slave := pollable(t, tty.slave)
	tty.Close() // the master's only copy: the slave hangs up
	inRelay, inAgent := unixPair(t)
	outRelay, outAgent := unixPair(t)
	done := bridgeTerminal(slave, inRelay, outRelay, t.Logf)
	inAgent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(inAgent); err != nil || len(b) != 0 {
		t.Errorf("stdin stream after the hangup: %q, %v; want EOF", b, err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	outAgent.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := outAgent.Write(big); err != nil {
		t.Fatalf("writing 1 MiB of output to a hung-up terminal: %v", err)
	}
	outAgent.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the bridge did not end")
	}
}

// TestResizer: the guest's size follows the slave's: sent when it
// changed, not for an unsized pty; watch updates at every signal.
func TestResizer(t *testing.T) {
	tty, err := newHostTTY(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	sent := make(chan string, 8)
	rz := &resizer{slave: pollable(t, tty.slave), logf: t.Logf, send: func(w, h uint16) error {
		sent <- fmt.Sprintf("%dx%d", w, h)
		return nil
	}}
	setSize := func(rows, cols uint16) {
		t.Helper()
		if err := unix.IoctlSetWinsize(int(tty.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	update := func() {
		t.Helper()
		if err := rz.update(); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-sent:
			got = append(got, s)
		default:
		}
	}
	update() // 0x0: nobody sized it
	setSize(30, 100)
	update()
	update() // unchanged
	setSize(50, 132)
	update()
	if s := strings.Join(got, " "); s != "100x30 132x50" {
		t.Errorf("sizes sent: %q, want \"100x30 132x50\"", s)
	}

	ticks := make(chan os.Signal, 1)
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() { rz.watch(ticks, stop); close(finished) }()
	setSize(40, 90)
	ticks <- unix.SIGWINCH
	select {
	case s := <-sent:
		if s != "90x40" {
			t.Errorf("watch sent %s after a resize to 90x40", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("watch sent nothing after SIGWINCH")
	}
	close(stop)
	<-finished
}

const envCttyChild = "HULL_TEST_CTTY_CHILD"

// TestTerminalSignals: a process started with ttyProcAttr has the host
// slave as its controlling terminal: TIOCSWINSZ on the master sends it
// SIGWINCH (and it reads the new size), closing the master SIGHUP.
func TestTerminalSignals(t *testing.T) {
	tty, err := newHostTTY(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCttyChild$")
	cmd.Env = append(os.Environ(), envCttyChild+"=1")
	cmd.ExtraFiles = []*os.File{tty.slave} // fd 3
	cmd.SysProcAttr = ttyProcAttr(3)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	tty.slave.Close()
	lines := bufio.NewScanner(out)
	next := func() string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			if lines.Scan() {
				got <- lines.Text()
			}
			close(got)
		}()
		select {
		case l := <-got:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no line from the child within 10 s")
			return ""
		}
	}
	if l := next(); l != "ready" {
		t.Fatalf("child: %q", l)
	}
	ws := unix.Winsize{Row: 33, Col: 111}
	if err := unix.IoctlSetWinsize(int(tty.master.Fd()), unix.TIOCSWINSZ, &ws); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "winch 111x33" {
		t.Errorf("after TIOCSWINSZ on the master the child says %q, want \"winch 111x33\"", l)
	}
	tty.master.Close()
	if l := next(); l != "hup" {
		t.Errorf("after closing the master the child says %q, want \"hup\"", l)
	}
}

// TestCttyChild is TestTerminalSignals's child; in a normal run it
// returns at once.
func TestCttyChild(t *testing.T) {
	if os.Getenv(envCttyChild) != "1" {
		return // run by TestTerminalSignals only
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGWINCH, unix.SIGHUP)
	slave, err := TTYFile(3)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for s := range sigs {
		if s == unix.SIGHUP {
			fmt.Println("hup")
			os.Exit(0)
		}
		ws, err := winsize(slave)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("winch %dx%d\n", ws.Col, ws.Row)
	}
}
