// Package runtimetests drives `hull` as containerd and runtime-tools do:
// the OCI verbs with the process sandbox, on a busybox bundle, as root
// (host tier). They check lifecycle, output and exit codes, runc-style
// errors for bad input with no state lost, and that parallel containers
// leave nothing behind.
package runtimetests

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/hullvm/hull/internal/hulltest"
	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/internal/testtier"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hulltest.Cleanup()
	os.Exit(code)
}

type env struct {
	t    *testing.T
	bin  string
	root string // --root
}

func newEnv(t *testing.T) *env {
	testtier.RequireRoot(t)
	testbundle.Busybox(t)
	return &env{t: t, bin: hulltest.Bin(t), root: t.TempDir()}
}

type result struct {
	stdout, stderr string
	status         int
}

// hull runs `hull --root R --sandbox process ARGS` with a time limit.
func (e *env) hull(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--root", e.root, "--sandbox", "process"}, args...)...)
	// Files, not pipes: a created container inherits create's stdout and
	// stderr (as with runc), and a pipe would keep Run waiting for it.
	o, er := tempFile(e.t), tempFile(e.t)
	cmd.Stdout, cmd.Stderr = o, er
	err := cmd.Run()
	r := result{stdout: readBack(o), stderr: readBack(er)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		e.t.Fatalf("hull %s: still running after 60 s\nstderr: %s", strings.Join(args, " "), r.stderr)
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("hull %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readBack returns what was written to f so far.
func readBack(f *os.File) string {
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// ok runs hull and fails the test unless it exits 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.hull(args...)
	if r.status != 0 {
		e.t.Fatalf("hull %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.status, r.stdout, r.stderr)
	}
	return r
}

// fails runs hull and checks it fails with exit 1 and msg in stderr.
func (e *env) fails(msg string, args ...string) {
	e.t.Helper()
	r := e.hull(args...)
	if r.status != 1 || !strings.Contains(r.stderr, msg) {
		e.t.Errorf("hull %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(args, " "), r.status, r.stderr, msg)
	}
}

func (e *env) state(id string) specs.State {
	e.t.Helper()
	r := e.ok("state", id)
	var s specs.State
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		e.t.Fatalf("state %s: %v\n%s", id, err, r.stdout)
	}
	return s
}

// waitStatus polls state until the container reaches status.
func (e *env) waitStatus(id string, want specs.ContainerState) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := e.state(id)
		if s.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s is %s after 20 s, want %s", id, s.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// busyboxBundle makes a bundle whose rootfs has busybox and its applets'
// links, with process args.
func busyboxBundle(t *testing.T, args ...string) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	testbundle.Rootfs(t, dir, "sh", "echo", "sleep", "cat", "true", "false", "hostname", "id", "ls", "touch")
	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Process:  &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Hostname: "box",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace}, {Type: specs.IPCNamespace},
		}},
	}
	writeSpec(t, dir, s)
	return dir, s
}

func writeSpec(t *testing.T, dir string, s *specs.Spec) { testbundle.WriteSpec(t, dir, s) }

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	b, _ := busyboxBundle(t, "sh", "-c", "echo started > /started; exec sleep 100")
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.ok("create", "--bundle", b, "--pid-file", pidFile, "c1")
	s := e.state("c1")
	if s.Status != specs.StateCreated || s.Pid <= 0 || s.Bundle != b || s.ID != "c1" {
		t.Fatalf("after create: %+v", s)
	}
	pf, _ := os.ReadFile(pidFile)
	if string(pf) != strconv.Itoa(s.Pid) {
		t.Errorf("pid file %q, state pid %d", pf, s.Pid)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs/started")); err == nil {
		t.Error("the process ran before start")
	}
	e.ok("start", "c1")
	e.waitStatus("c1", specs.StateRunning)
	// The container's root is a live view of the bundle's rootfs.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := os.ReadFile(filepath.Join(b, "rootfs/started")); err == nil && string(out) == "started\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container's write did not appear in the bundle's rootfs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.fails("not stopped", "delete", "c1")
	if s := e.state("c1"); s.Status != specs.StateRunning {
		t.Errorf("a refused delete changed the state: %s", s.Status)
	}
	e.ok("kill", "c1", "KILL")
	e.waitStatus("c1", specs.StateStopped)
	e.fails("stopped", "kill", "c1", "TERM")
	e.ok("delete", "c1")
	e.fails("does not exist", "state", "c1")
	if _, err := os.Stat(filepath.Join(e.root, "c1")); !os.IsNotExist(err) {
		t.Errorf("state directory left behind: %v", err)
	}
}

func TestRunOutputAndExitCode(t *testing.T) {
	e := newEnv(t)
	b, _ := busyboxBundle(t, "sh", "-c", "echo out; echo err >&2; hostname; exit 3")
	r := e.hull("run", "--bundle", b, "r1")
	if r.status != 3 {
		t.Errorf("run: exit %d, want the container's 3\nstderr: %s", r.status, r.stderr)
	}
	if r.stdout != "out\nbox\n" || !strings.Contains(r.stderr, "err") {
		t.Errorf("run: stdout %q stderr %q", r.stdout, r.stderr)
	}
	e.fails("does not exist", "state", "r1")
}

func TestExec(t *testing.T) {
	e := newEnv(t)
	b, _ := busyboxBundle(t, "sleep", "100")
	e.ok("run", "--detach", "--bundle", b, "x1")
	defer e.hull("delete", "--force", "x1")
	r := e.hull("exec", "x1", "sh", "-c", "hostname; exit 5")
	if r.status != 5 || r.stdout != "box\n" {
		t.Errorf("exec: exit %d stdout %q stderr %q", r.status, r.stdout, r.stderr)
	}
	r = e.ok("ps", "--format", "json", "x1")
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil || len(pids) == 0 {
		t.Errorf("ps: %q %v", r.stdout, err)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	good, spec := busyboxBundle(t, "sleep", "100")
	e.fails("does not exist", "create", "--bundle", filepath.Join(t.TempDir(), "nope"), "b1")
	bad := t.TempDir()
	os.Mkdir(filepath.Join(bad, "rootfs"), 0o755)
	os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"ociVersion": "1.0.0", "process": {`), 0o644)
	e.fails("config.json", "create", "--bundle", bad, "b1")
	s2 := *spec
	s2.Version = "2.0.0"
	writeSpec(t, bad, &s2)
	e.fails("supports 1.x", "create", "--bundle", bad, "b1")
	s3 := *spec
	s3.Process = nil
	writeSpec(t, bad, &s3)
	e.fails("no process", "create", "--bundle", bad, "b1")
	e.fails("container id required", "create", "--bundle", good)
	e.fails("invalid container id", "create", "--bundle", good, "../escape")
	// None of these left anything behind.
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("failed creates left %d entries in --root", len(ents))
	}
	e.ok("create", "--bundle", good, "b1")
	defer e.hull("delete", "--force", "b1")
	e.fails("already exists", "create", "--bundle", good, "b1")
	if s := e.state("b1"); s.Status != specs.StateCreated {
		t.Errorf("a duplicate create changed the first: %s", s.Status)
	}
	e.ok("start", "b1")
	e.fails("not created", "start", "b1")
	e.fails("does not exist", "start", "nosuch")
	e.fails("does not exist", "kill", "nosuch", "KILL")
	e.fails("unknown signal", "kill", "b1", "SIGNOPE")
	e.fails("container id required", "start")
	e.fails("container id required", "state")
	e.fails("container id required", "delete")
	if r := e.hull("kill"); r.status == 0 {
		t.Error("kill without an id succeeded")
	}
	e.ok("delete", "--force", "b1")
}

// TestParallel: 20 containers created, started and deleted at once leave
// no state, processes or mounts behind.
func TestParallel(t *testing.T) {
	e := newEnv(t)
	b, _ := busyboxBundle(t, "sh", "-c", "echo hi")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("p%d", i)
			cmd := exec.Command(e.bin, "--root", e.root, "--sandbox", "process", "run", "--bundle", b, id)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err != nil || out.String() != "hi\n" {
				errs <- fmt.Sprintf("%s: %v %q", id, err, out.String())
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for m := range errs {
		t.Error(m)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("%d entries left in --root", len(ents))
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), b) {
		t.Errorf("mounts of the bundle left behind:\n%s", mounts)
	}
	out, _ := exec.Command("pgrep", "-f", "__agent --id p[0-9]").Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("processes left behind: %s", out)
	}
}

// TestConsoleSocket: a terminal container hands its pty master to the
// --console-socket listener (runc's protocol: one SCM_RIGHTS message),
// and the process's output arrives on it.
func TestConsoleSocket(t *testing.T) {
	e := newEnv(t)
	b, s := busyboxBundle(t, "sh", "-c", "tty; echo hello-tty")
	s.Process.Terminal = true
	writeSpec(t, b, s)
	sock := filepath.Join(t.TempDir(), "console.sock")
	master := hulltest.ConsoleSocket(t, sock, time.Minute)
	e.fails("--console-socket", "create", "--bundle", b, "t0") // terminal without a console socket
	e.ok("create", "--bundle", b, "--console-socket", sock, "t1")
	defer e.hull("delete", "--force", "t1")
	m := <-master
	if m == nil {
		t.Fatal("no pty master arrived on the console socket")
	}
	defer m.Close()
	e.ok("start", "t1")
	var out bytes.Buffer
	buf := make([]byte, 256)
	m.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(out.String(), "hello-tty") {
		n, err := m.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	// tty names the pty (through the /dev/console bind mount, as with
	// runc), never "not a tty".
	if o := out.String(); !strings.HasPrefix(o, "/dev/") || strings.Contains(o, "not a tty") || !strings.Contains(o, "hello-tty") {
		t.Errorf("terminal output %q: want a tty name and hello-tty", o)
	}
}

// TestPauseResume: a paused container's processes stop running; resume
// lets them go on.
func TestPauseResume(t *testing.T) {
	e := newEnv(t)
	b, _ := busyboxBundle(t, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done")
	e.ok("run", "--detach", "--bundle", b, "pz")
	defer e.hull("delete", "--force", "pz")
	count := func() string {
		c, _ := os.ReadFile(filepath.Join(b, "rootfs/count"))
		return string(c)
	}
	time.Sleep(300 * time.Millisecond)
	e.ok("pause", "pz")
	if s := e.state("pz"); s.Status != "paused" {
		t.Fatalf("after pause: %s", s.Status)
	}
	e.fails("not running", "pause", "pz")
	c1 := count()
	time.Sleep(400 * time.Millisecond)
	if c2 := count(); c1 != c2 {
		t.Errorf("the container ran while paused: %q -> %q", c1, c2)
	}
	e.ok("resume", "pz")
	if s := e.state("pz"); s.Status != specs.StateRunning {
		t.Fatalf("after resume: %s", s.Status)
	}
	time.Sleep(400 * time.Millisecond)
	if c3 := count(); c3 == c1 {
		t.Errorf("the container did not run after resume: still %q", c3)
	}
}
