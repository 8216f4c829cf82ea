package kvmtests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/hulltest"
	"github.com/hullvm/hull/internal/testbundle"
)

// Terminals and detached execs in the vm sandbox: the pty master comes
// through --console-socket as with runc, the shell behind it runs in the
// guest, window sizes follow the master.

// ttyBundle is vmBundle with the applets a terminal test uses, and the
// spec to adjust.
func ttyBundle(t *testing.T, args ...string) (string, *specs.Spec) {
	t.Helper()
	dir := socketDir(t)
	testbundle.Rootfs(t, dir, "sh", "echo", "sleep", "cat", "stty", "tty")
	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Process:  &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin", "TERM=dumb"}},
		Hostname: "ttybox",
		Mounts:   []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
		}},
	}
	testbundle.WriteSpec(t, dir, s)
	return dir, s
}

// term is the caller's side of a terminal: the master, with everything
// read from it so far.
type term struct {
	t      *testing.T
	m      *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{} // the master read EOF/EIO: no process holds the slave
}

func newTerm(t *testing.T, master <-chan *os.File, what string) *term {
	t.Helper()
	m := <-master
	if m == nil {
		t.Fatalf("%s: no pty master arrived on the console socket", what)
	}
	tm := &term{t: t, m: m, closed: make(chan struct{})}
	t.Cleanup(func() { m.Close() })
	go func() {
		defer close(tm.closed)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return tm
}

func (tm *term) String() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

func (tm *term) typeIn(s string) {
	tm.t.Helper()
	if _, err := tm.m.Write([]byte(s)); err != nil {
		tm.t.Fatalf("typing %q: %v", s, err)
	}
}

// waitFor waits until the output holds want; retype, when not empty, is
// typed again every second meanwhile (a resize travels asynchronously).
func (tm *term) waitFor(want, retype string, d time.Duration) {
	tm.t.Helper()
	deadline := time.Now().Add(d)
	next := time.Now()
	for !strings.Contains(tm.String(), want) {
		if time.Now().After(deadline) {
			tm.t.Fatalf("terminal output never showed %q within %v; it is:\n%q", want, d, clip(tm.String()))
		}
		if retype != "" && !time.Now().Before(next) {
			tm.typeIn(retype)
			next = time.Now().Add(time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tm *term) resize(rows, cols uint16) {
	tm.t.Helper()
	rc, err := tm.m.SyscallConn()
	if err != nil {
		tm.t.Fatal(err)
	}
	var ioErr error
	rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
	if ioErr != nil {
		tm.t.Fatalf("TIOCSWINSZ on the master: %v", ioErr)
	}
}

// startHull starts hull in the background with its stdout and stderr in
// files; wait returns its exit status and stderr.
func (e *vmEnv) startHull(args ...string) (wait func(time.Duration) (int, string)) {
	e.t.Helper()
	dir := e.t.TempDir()
	o, _ := os.Create(filepath.Join(dir, "stdout"))
	er, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd := exec.Command(e.bin, append([]string{"--root", e.root}, args...)...)
	cmd.Stdout, cmd.Stderr = o, er
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	o.Close()
	er.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return func(d time.Duration) (int, string) {
		e.t.Helper()
		select {
		case err := <-done:
			done <- err
			eb, _ := os.ReadFile(er.Name())
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), string(eb)
			}
			if err != nil {
				e.t.Fatalf("hull %s: %v", strings.Join(args, " "), err)
			}
			return 0, string(eb)
		case <-time.After(d):
			e.t.Fatalf("hull %s: still running after %v%s", strings.Join(args, " "), d, e.logs())
			return 0, ""
		}
	}
}

// leftovers lists the vm sandbox's host processes still running under
// this test's --root.
func (e *vmEnv) leftovers() string {
	out, _ := exec.Command("pgrep", "-af", "__vm-(sandbox|relay) .*"+regexpQuote(e.root)).Output()
	return strings.TrimSpace(string(out))
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// waitNoLeftovers waits until no host process of the vm sandbox is left.
func (e *vmEnv) waitNoLeftovers(what string) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := e.leftovers()
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("%s: processes left behind:\n%s", what, left)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVMSandboxTerminal: `hull run --console-socket` with
// process.terminal: the master arrives on the socket, the guest's shell
// answers on it with the guest's line discipline, the initial size is
// process.consoleSize, a TIOCSWINSZ on the master reaches the guest, and
// `hull run` exits with the shell's status.
func TestVMSandboxTerminal(t *testing.T) {
	e := newVMEnv(t)
	b, s := ttyBundle(t, "sh")
	s.Process.Terminal = true
	s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	testbundle.WriteSpec(t, b, s)
	sock := filepath.Join(socketDir(t), "console.sock")
	master := hulltest.ConsoleSocket(t, sock, 3*time.Minute)
	start := time.Now()
	wait := e.startHull("run", "--bundle", b, "--console-socket", sock, "tty1")
	tm := newTerm(t, master, "hull run")
	t.Logf("master received after %v", time.Since(start).Round(time.Millisecond))
	tm.typeIn("tty; stty size\r")
	tm.waitFor("24 80", "", 60*time.Second)
	if !strings.Contains(tm.String(), "/dev/") {
		t.Errorf("tty in the container did not name a terminal: %q", tm.String())
	}
	tm.resize(30, 100)
	tm.waitFor("30 100", "stty size\r", 30*time.Second)
	tm.typeIn("echo hi-$((6*7)); exit 3\r")
	tm.waitFor("hi-42", "", 30*time.Second)
	status, stderr := wait(60 * time.Second)
	if status != 3 {
		t.Errorf("hull run: exit %d, want 3 (the shell's); stderr %q%s", status, stderr, e.logs())
	}
	select {
	case <-tm.closed:
	case <-time.After(10 * time.Second):
		t.Error("the master did not end after the container exited")
	}
	e.wantEmptyRoot()
	e.waitNoLeftovers("after hull run")
}

// TestVMSandboxExecTerminalAndDetach: in one running container, `hull
// exec --tty --console-socket` (interactive, resized, its status
// returned), `hull exec --detach` with the caller's stdout a file (it
// returns at once, the output lands in the file later, --pid-file is the
// guest pid), `hull exec -d -t`, and a terminal hung up by closing its
// master; no relay is left once the execs end, nothing at all after
// delete.
func TestVMSandboxExecTerminalAndDetach(t *testing.T) {
	e := newVMEnv(t)
	b, _ := ttyBundle(t, "sleep", "1000")
	e.ok("run", "--detach", "--bundle", b, "tty2")
	defer e.hull("delete", "--force", "tty2")
	dir := socketDir(t)

	// exec --tty, interactive.
	sock := filepath.Join(dir, "exec.sock")
	master := hulltest.ConsoleSocket(t, sock, 2*time.Minute)
	wait := e.startHull("exec", "--tty", "--console-socket", sock, "tty2", "sh")
	tm := newTerm(t, master, "hull exec --tty")
	tm.resize(25, 90)
	tm.waitFor("25 90", "stty size\r", 30*time.Second)
	tm.typeIn("echo exec-$((6*7)); exit 4\r")
	tm.waitFor("exec-42", "", 30*time.Second)
	if status, stderr := wait(60 * time.Second); status != 4 {
		t.Errorf("hull exec --tty: exit %d, want 4; stderr %q", status, stderr)
	}

	// exec --detach, output to a file.
	outPath := filepath.Join(t.TempDir(), "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "--root", e.root, "exec", "--detach", "--pid-file", pidFile, "tty2",
		"sh", "-c", "sleep 6; echo detached-$((6*7)); echo to-stderr >&2")
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("hull exec --detach: %v%s", err, e.logs())
	}
	out.Close()
	took := time.Since(start)
	t.Logf("hull exec --detach returned after %v", took.Round(time.Millisecond))
	if got, _ := os.ReadFile(outPath); took > 5*time.Second || len(got) != 0 {
		t.Errorf("hull exec --detach took %v and the file holds %q: it waited for the process", took, got)
	}
	if pb, err := os.ReadFile(pidFile); err != nil {
		t.Errorf("--pid-file: %v", err)
	} else if pid, err := strconv.Atoi(strings.TrimSpace(string(pb))); err != nil || pid <= 1 {
		t.Errorf("--pid-file holds %q, want a pid", pb)
	} else if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(cmdline, []byte("__vm-relay")) {
		// The relay: a host process that lives as long as the exec and
		// exits with its status, which containerd's shim can wait for.
		t.Errorf("--pid-file holds %d, which is not the exec's relay (cmdline %q)", pid, cmdline)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ := os.ReadFile(outPath)
		if strings.Contains(string(got), "detached-42\n") && strings.Contains(string(got), "to-stderr\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the detached exec's output never reached the file: %q%s", got, e.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// exec -d -t: the master still gets the output after hull exec returned.
	sock2 := filepath.Join(dir, "exec2.sock")
	master2 := hulltest.ConsoleSocket(t, sock2, 2*time.Minute)
	e.ok("exec", "-d", "-t", "--console-socket", sock2, "tty2", "sh", "-c", "sleep 1; echo dt-$((6*7))")
	tm2 := newTerm(t, master2, "hull exec -d -t")
	tm2.waitFor("dt-42", "", 30*time.Second)
	select {
	case <-tm2.closed:
	case <-time.After(10 * time.Second):
		t.Error("the detached terminal's master did not end after the exec exited")
	}

	// Closing the master hangs the terminal up: the exec's shell gets
	// SIGHUP, as with runc, and hull exec returns 128+1.
	sock3 := filepath.Join(dir, "exec3.sock")
	master3 := hulltest.ConsoleSocket(t, sock3, 2*time.Minute)
	wait3 := e.startHull("exec", "-t", "--console-socket", sock3, "tty2", "sh")
	tm3 := newTerm(t, master3, "hull exec -t (hangup)")
	tm3.typeIn("echo up-$((6*7))\r")
	tm3.waitFor("up-42", "", 30*time.Second)
	tm3.m.Close()
	if status, stderr := wait3(60 * time.Second); status != 129 {
		t.Errorf("hull exec -t after the master closed: exit %d, want 129 (SIGHUP); stderr %q", status, stderr)
	}

	// The relays are gone with their execs; the VMM stays until delete.
	deadline = time.Now().Add(15 * time.Second)
	for strings.Contains(e.leftovers(), "__vm-relay") {
		if time.Now().After(deadline) {
			t.Fatalf("relays left after their execs ended:\n%s", e.leftovers())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A detached exec still running at delete: its relay goes with the VM.
	e.ok("exec", "-d", "tty2", "sleep", "1000")
	if !strings.Contains(e.leftovers(), "__vm-relay") {
		t.Errorf("no relay for a running detached exec:\n%s", e.leftovers())
	}
	e.ok("delete", "--force", "tty2")
	e.waitNoLeftovers("after delete")
}
