package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hullvm/hull/agent/proto"
)

// fakeSystem records what the agent does, in order, and fails the calls
// named in fail.
type fakeSystem struct {
	mu       sync.Mutex
	calls    []string
	files    map[string]string
	fail     map[string]error // call name -> error
	listener net.Listener     // what ListenVsock returns when it does not fail
	reboots  int
	rebootOK bool // Reboot returns nil (as if the machine went down)
	shell    chan struct{}
}

func newFake(cmdline string) *fakeSystem {
	return &fakeSystem{
		files:    map[string]string{"/proc/cmdline": cmdline + "\n", "/proc/uptime": "0.86 0.50\n"},
		fail:     map[string]error{"vsock": ErrNoVsock},
		rebootOK: true,
	}
}

func (f *fakeSystem) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.fail[strings.Fields(call)[0]]
}

func (f *fakeSystem) ReadFile(name string) ([]byte, error) {
	if err := f.record("read " + name); err != nil {
		return nil, err
	}
	s, ok := f.files[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return []byte(s), nil
}
func (f *fakeSystem) Mount(m Mount) error {
	if err := f.fail["mount "+m.Target]; err != nil {
		f.record("mount " + m.Target)
		return err
	}
	return f.record("mount " + m.Target)
}
func (f *fakeSystem) SetHostname(name string) error { return f.record("hostname " + name) }
func (f *fakeSystem) LinkUp(name string) error      { return f.record("linkup " + name) }
func (f *fakeSystem) WriteBootTimer() error         { return f.record("boottimer") }
func (f *fakeSystem) ListenVsock(port uint32) (net.Listener, error) {
	if err := f.record(fmt.Sprintf("vsock %d", port)); err != nil {
		return nil, err
	}
	return f.listener, nil
}
func (f *fakeSystem) Shell() error {
	err := f.record("shell")
	if f.shell != nil {
		<-f.shell
	}
	return err
}
func (f *fakeSystem) Reboot() error {
	f.mu.Lock()
	f.reboots++
	ok := f.rebootOK
	f.mu.Unlock()
	if err := f.record("reboot"); err != nil {
		return err
	}
	if !ok {
		return errors.New("reboot: operation not permitted")
	}
	return nil
}

func (f *fakeSystem) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func TestStartSequence(t *testing.T) {
	sys := newFake("console=ttyS0 reboot=k hull.hostname=box1 quiet")
	var con bytes.Buffer
	st, err := Start(sys, &con)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := []string{
		"mount /proc", "mount /sys", "mount /dev", "mount /dev/pts", "mount /tmp",
		"read /proc/cmdline", "hostname box1", "linkup lo", "vsock 1024", "boottimer", "read /proc/uptime",
	}
	if got := sys.callList(); !slices.Equal(got, want) {
		t.Errorf("calls:\n%q\nwant:\n%q", got, want)
	}
	if st.Config.Hostname != "box1" || st.Listener != nil {
		t.Errorf("Started = %+v", st)
	}
	wantOut := "hull-agent: no vsock device (not available yet): not listening on vsock port 1024\n" +
		"hull-agent ready (hostname box1, up 0.86 s)\n"
	if con.String() != wantOut {
		t.Errorf("console:\n%s\nwant:\n%s", con.String(), wantOut)
	}
}

// TestStartRequiredMount: a failed /proc, /sys or /dev stops the boot
// before anything else happens and before the ready line.
func TestStartRequiredMount(t *testing.T) {
	for _, target := range []string{"/proc", "/sys", "/dev"} {
		sys := newFake("")
		sys.fail["mount "+target] = syscall.EPERM
		var con bytes.Buffer
		st, err := Start(sys, &con)
		if err == nil || !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), target) {
			t.Errorf("%s fails: Start = %v, %v; want an error naming it and wrapping EPERM", target, st, err)
		}
		if calls := sys.callList(); calls[len(calls)-1] != "mount "+target {
			t.Errorf("%s fails: went on with %q", target, calls)
		}
		if strings.Contains(con.String(), ReadyLine) {
			t.Errorf("%s fails: printed the ready line", target)
		}
	}
}

// TestStartBestEffort: everything else that fails is one line, and the
// agent still comes up.
func TestStartBestEffort(t *testing.T) {
	sys := newFake("hull.hostname=bad_name")
	for _, c := range []string{"mount /dev/pts", "mount /tmp", "hostname", "linkup", "boottimer"} {
		sys.fail[c] = syscall.ENODEV
	}
	sys.fail["vsock"] = errors.New("socket: address family not supported")
	delete(sys.files, "/proc/uptime")
	var con bytes.Buffer
	if _, err := Start(sys, &con); err != nil {
		t.Fatalf("Start: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(con.String()), "\n")
	for _, want := range []string{
		"mount /dev/pts (devpts): no such device; going on without it",
		"mount /tmp (tmpfs): no such device",
		`kernel command line: hull.hostname="bad_name": character '_' is not allowed`,
		`setting the hostname to "hull": no such device`,
		"bringing up lo: no such device",
		"listening on vsock port 1024: socket: address family not supported",
		"boot timer: no such device",
	} {
		if !strings.Contains(con.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, con.String())
		}
	}
	if last := lines[len(lines)-1]; last != ReadyLine+" (hostname hull)" {
		t.Errorf("last line %q, want the ready line", last)
	}
}

func TestStartNoCmdline(t *testing.T) {
	sys := newFake("")
	delete(sys.files, "/proc/cmdline")
	var con bytes.Buffer
	st, err := Start(sys, &con)
	if err != nil || st.Config != (Config{Hostname: DefaultHostname}) {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	if !strings.Contains(con.String(), "reading the kernel command line: file does not exist; using the defaults") {
		t.Errorf("console:\n%s", con.String())
	}
}

func TestServeExitReady(t *testing.T) {
	sys := newFake("")
	var con bytes.Buffer
	a := newAgent(sys, &con)
	a.serve(&Started{Config: Config{Exit: ExitReady}}, nil)
	if sys.reboots != 1 {
		t.Errorf("%d reboots, want 1", sys.reboots)
	}
	if want := "hull-agent: powering off (hull.agent.exit=ready)\n"; con.String() != want {
		t.Errorf("console %q, want %q", con.String(), want)
	}
}

// TestServeRebootFails: PID 1 never gives up: a failed power off is logged
// and the agent goes on serving; a signal then tries again.
func TestServeRebootFails(t *testing.T) {
	sys := newFake("")
	sys.rebootOK = false
	var con syncBuffer
	a := newAgent(sys, &con)
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		a.serve(&Started{Config: Config{Exit: ExitReady}}, sigs)
		close(done)
	}()
	waitFor(t, func() bool { return strings.Contains(con.String(), "still running") })
	sys.mu.Lock()
	sys.rebootOK = true
	sys.mu.Unlock()
	sigs <- syscall.SIGTERM
	<-done
	if !strings.Contains(con.String(), "powering off (signal terminated)") || sys.reboots != 2 {
		t.Errorf("%d reboots; console:\n%s", sys.reboots, con.String())
	}
}

func TestServeSignals(t *testing.T) {
	sys := newFake("")
	var con syncBuffer
	a := newAgent(sys, &con)
	sigs := make(chan os.Signal)
	done := make(chan struct{})
	go func() {
		a.serve(&Started{}, sigs)
		close(done)
	}()
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGQUIT
	sigs <- syscall.SIGPWR
	<-done
	out := con.String()
	for _, want := range []string{"ignoring signal hangup", "SIGQUIT: goroutines:", "powering off (signal power failure)"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
}

func TestServeShell(t *testing.T) {
	sys := newFake("")
	sys.shell = make(chan struct{})
	sys.fail["shell"] = errors.New("exit status 3")
	var con syncBuffer
	a := newAgent(sys, &con)
	done := make(chan struct{})
	go func() {
		a.serve(&Started{Config: Config{Shell: true}}, nil)
		close(done)
	}()
	waitFor(t, func() bool { return slices.Contains(sys.callList(), "shell") })
	if sys.reboots != 0 {
		t.Fatal("powered off while the shell runs")
	}
	close(sys.shell)
	<-done
	if want := "hull-agent: debug shell: exit status 3\nhull-agent: powering off (the debug shell ended)\n"; con.String() != want {
		t.Errorf("console %q, want %q", con.String(), want)
	}
}

// TestServeVsockPoweroff: a poweroff request on a control connection
// powers the VM off; the connection gets its reply first.
func TestServeVsockPoweroff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP to stand in for vsock: %v", err)
	}
	defer ln.Close()
	sys := newFake("")
	var con syncBuffer
	a := newAgent(sys, &con)
	done := make(chan struct{})
	go func() {
		a.serve(&Started{Listener: ln}, nil)
		close(done)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping\npoweroff\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	_, _ = got.ReadFrom(c)
	if got.String() != "pong\nok\n" {
		t.Errorf("replies %q, want pong and ok", got.String())
	}
	<-done
	if !strings.Contains(con.String(), "powering off (poweroff request on vsock port 1024)") {
		t.Errorf("console:\n%s", con.String())
	}
}

// TestCrash: a panic in an agent goroutine is printed and reboots.
func TestCrash(t *testing.T) {
	sys := newFake("")
	var con syncBuffer
	a := newAgent(sys, &con)
	a.goSafe(func() { panic("boom") })
	waitFor(t, func() bool { return slices.Contains(sys.callList(), "reboot") })
	if out := con.String(); !strings.Contains(out, "hull-agent: panic: boom\n") || !strings.Contains(out, "agent_test.go") {
		t.Errorf("console %q, want the panic and its stack", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStartListensContainers: with a vsock device the agent listens on
// the line protocol's port and on the container protocol's.
func TestStartListensContainers(t *testing.T) {
	sys := newFake("")
	delete(sys.fail, "vsock")
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "l"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sys.listener = ln
	var con bytes.Buffer
	st, err := Start(sys, &con)
	if err != nil {
		t.Fatal(err)
	}
	calls := sys.callList()
	if !slices.Contains(calls, "vsock 1024") || !slices.Contains(calls, "vsock 1025") || st.Listener == nil || st.Containers == nil {
		t.Errorf("calls %q; Started %+v", calls, st)
	}
	if !strings.Contains(con.String(), "listening on vsock port 1025 (containers)") {
		t.Errorf("console:\n%s", con.String())
	}
}

// TestServeContainerProtocol: the container protocol's listener is
// served by the vm agent's Server; a shutdown request is answered, then
// powers the VM off.
func TestServeContainerProtocol(t *testing.T) {
	dir, err := os.MkdirTemp("", "hull-agent")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sys := newFake("")
	var con syncBuffer
	a := newAgent(sys, &con)
	a.server = a.containerServer(nil, &fakeMounter{})
	if got := a.server.InitCommand; !slices.Equal(got, []string{"/proc/self/exe", "__init"}) {
		t.Errorf("InitCommand %q", got)
	}
	done := make(chan struct{})
	go func() {
		a.serve(&Started{Containers: ln}, nil)
		close(done)
	}()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := proto.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if cl.Agent != VMAgentName {
		t.Errorf("agent %q, want %q", cl.Agent, VMAgentName)
	}
	if _, err := cl.Call(proto.OpPing, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(proto.OpShutdown, nil, nil); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no power off after the shutdown request")
	}
	if !strings.Contains(con.String(), "powering off (shutdown request on vsock port 1025)") || sys.reboots != 1 {
		t.Errorf("%d reboots; console:\n%s", sys.reboots, con.String())
	}
}
