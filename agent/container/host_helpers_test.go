package container

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/internal/testtier"
)

// The host tier: real containers from a busybox root file system, made
// by this test binary acting as its own init (TestMain). They need root.

// applets linked to busybox in the test root file system.
var applets = []string{"sh", "echo", "cat", "id", "hostname", "sleep", "ls", "touch", "grep", "head", "umask",
	"readlink", "test", "true", "mount", "ps", "tty", "stat", "wc"}

// busyboxBundle makes a bundle whose rootfs holds a static busybox and
// its applets, /etc/passwd and /etc/group.
func busyboxBundle(t *testing.T) string {
	t.Helper()
	testtier.RequireRoot(t)
	bundle := t.TempDir()
	rootfs := testbundle.Rootfs(t, bundle, applets...)
	write(t, filepath.Join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
	write(t, filepath.Join(rootfs, "etc/group"), "root:x:0:\n")
	return bundle
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testSpec is a minimal runc-like config running args.
func testSpec(args ...string) *specs.Spec {
	all := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: all, Effective: all, Permitted: all,
			},
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "hulltest",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "mount"}, {Type: "uts"}, {Type: "ipc"}, {Type: "network"}},
		},
	}
}

// capture is a pipe whose read side is drained into a buffer.
type capture struct {
	w    *os.File
	done chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newCapture(t *testing.T) *capture {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{w: w, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				r.Close()
				return
			}
		}
	}()
	t.Cleanup(func() { w.Close() })
	return c
}

// text is what arrived so far.
func (c *capture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// closeWriter drops the parent's write end: the pipe ends with the
// container's processes.
func (c *capture) closeWriter() { c.w.Close() }

func (c *capture) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatal("output did not end within 20 s")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// testReaper is a Reaper that records every pid it was handed.
type testReaper struct {
	mu   sync.Mutex
	pids []int
}

func (r *testReaper) Start(start func() (int, error)) (int, <-chan unix.WaitStatus, error) {
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	r.mu.Lock()
	r.pids = append(r.pids, pid)
	r.mu.Unlock()
	ch := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		ch <- ws
	}()
	return pid, ch, nil
}

func options(t *testing.T, bundle string, spec *specs.Spec, out *capture) Options {
	return Options{
		ID: filepath.Base(t.Name()), Bundle: bundle, Spec: spec,
		Stdout: out.w, Stderr: out.w,
		InitCommand: []string{os.Args[0]},
		Debugf:      func(f string, a ...any) { t.Logf("debug: "+f, a...) },
	}
}

// create is Create that fails the test and kills the container at its end.
func create(t *testing.T, o Options) *Container {
	t.Helper()
	c, err := Create(o)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		_ = c.SignalAll(unix.SIGKILL)
		_ = c.Signal(unix.SIGKILL)
		_, _ = c.Wait()
	})
	return c
}

// runContainer creates, starts and waits for a container; it returns its
// output and wait status.
func runContainer(t *testing.T, bundle string, spec *specs.Spec) (string, unix.WaitStatus) {
	t.Helper()
	out := newCapture(t)
	c := create(t, options(t, bundle, spec, out))
	out.closeWriter()
	if err := c.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ws, err := c.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return out.wait(t), ws
}

func linkApplet(t *testing.T, bundle, name string) {
	t.Helper()
	if err := os.Symlink("busybox", filepath.Join(bundle, "rootfs/bin", name)); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
}

// capLine returns the value of a Cap* line of /proc/self/status output.
func capLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// waitOutput waits until the captured output contains s.
func waitOutput(t *testing.T, c *capture, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(c.text(), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q in the output within 20 s", s)
}

// waitPids waits until the container has n processes.
func waitPids(t *testing.T, c *Container, n int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var pids []int
	for time.Now().Before(deadline) {
		var err error
		if pids, err = c.Pids(); err != nil {
			t.Fatal(err)
		}
		if len(pids) == n {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the container has pids %v, want %d of them", pids, n)
	return nil
}

// gone reports whether pid has exited (no process, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "gone"
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return rest[:1]
}

// openPty opens a pty pair from the host's /dev/ptmx.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}
