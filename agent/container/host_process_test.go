package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestRlimitNofile(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "ulimit -n; ulimit -Hn")
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 123, Hard: 456}}
	if out, _ := runContainer(t, bundle, s); out != "123\n456\n" {
		t.Errorf("output %q, want 123 and 456", out)
	}
}

func TestUserAndGroups(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "id -u; id -g; id -G; umask; echo $HOME; pwd")
	um := uint32(0o027)
	s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{20, 30}, Umask: &um}
	s.Process.Cwd = "/work/dir" // created, and reachable as the user
	out, ws := runContainer(t, bundle, s)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || lines[0] != "1000" || lines[1] != "1001" || !strings.Contains(" "+lines[2]+" ", " 20 ") ||
		!strings.Contains(" "+lines[2]+" ", " 30 ") || lines[3] != "0027" || lines[4] != "/" || lines[5] != "/work/dir" {
		t.Errorf("output %q (%s): want uid 1000, gid 1001, groups 20 30, umask 0027, HOME /, cwd /work/dir", out, describeStatus(ws))
	}
}

func TestCapabilities(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status")
	caps := []string{"CAP_CHOWN", "CAP_KILL"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps,
		Ambient: []string{"CAP_NOT_A_CAP"}}
	out, _ := runContainer(t, bundle, s)
	want := fmt.Sprintf("%016x", 1<<unix.CAP_CHOWN|1<<unix.CAP_KILL)
	for _, n := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if got := capLine(out, n); got != want {
			t.Errorf("%s = %s, want %s\n%s", n, got, want, out)
		}
	}
	if capLine(out, "NoNewPrivs") != "0" {
		t.Errorf("NoNewPrivs set without process.noNewPrivileges:\n%s", out)
	}

	// A non-root user keeps capabilities only through the ambient set.
	s = testSpec("grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status")
	nb := []string{"CAP_NET_BIND_SERVICE"}
	s.Process.User = specs.User{UID: 1000, GID: 1000}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb, Inheritable: nb, Ambient: nb}
	s.Process.NoNewPrivileges = true
	out, _ = runContainer(t, bundle, s)
	want = fmt.Sprintf("%016x", 1<<unix.CAP_NET_BIND_SERVICE)
	for _, n := range []string{"CapEff", "CapPrm", "CapAmb", "CapBnd", "CapInh"} {
		if got := capLine(out, n); got != want {
			t.Errorf("user 1000: %s = %s, want %s\n%s", n, got, want, out)
		}
	}
	if capLine(out, "NoNewPrivs") != "1" {
		t.Errorf("NoNewPrivs not 1 with process.noNewPrivileges:\n%s", out)
	}

	// No capabilities object: none at all.
	s = testSpec("grep", "^CapEff", "/proc/self/status")
	s.Process.Capabilities = nil
	out, _ = runContainer(t, bundle, s)
	if got := capLine(out, "CapEff"); got != "0000000000000000" {
		t.Errorf("no capabilities: CapEff = %s", got)
	}
}

func TestSignal(t *testing.T) {
	bundle := busyboxBundle(t)
	// pid 1 of a pid namespace gets only the signals it handles.
	s := testSpec("sh", "-c", "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done")
	out := newCapture(t)
	c := create(t, options(t, bundle, s, out))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "ready")
	if err := c.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Wait()
	if err != nil || !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("after SIGTERM: %s, %v; want exit status 7 from the trap", describeStatus(ws), err)
	}
	if err := c.Signal(unix.SIGTERM); !errors.Is(err, ErrExited) || !errors.Is(err, unix.ESRCH) {
		t.Errorf("Signal after exit: %v, want ErrExited", err)
	}
}

func TestSignalAll(t *testing.T) {
	for _, pidns := range []bool{true, false} {
		t.Run(fmt.Sprintf("pidns=%v", pidns), func(t *testing.T) {
			bundle := busyboxBundle(t)
			s := testSpec("sh", "-c", "sleep 1000 & sleep 1000 & echo started; wait")
			if !pidns {
				s.Linux.Namespaces = s.Linux.Namespaces[1:] // the host's pid namespace: found by mount namespace
			}
			out := newCapture(t)
			c := create(t, options(t, bundle, s, out))
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			waitOutput(t, out, "started")
			pids := waitPids(t, c, 3)
			if pids[0] != c.Pid() && !contains(pids, c.Pid()) {
				t.Errorf("pids %v lack the init %d", pids, c.Pid())
			}
			if err := c.Pause(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for _, p := range pids {
				for procState(p) != "T" && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if st := procState(p); st != "T" {
					t.Errorf("paused: process %d is in state %q", p, st)
				}
			}
			if err := c.Resume(); err != nil {
				t.Fatal(err)
			}
			if err := c.SignalAll(unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			ws, _ := c.Wait()
			if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
				t.Errorf("init: %s, want killed", describeStatus(ws))
			}
			deadline = time.Now().Add(10 * time.Second)
			for _, p := range pids {
				for !gone(p) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !gone(p) {
					t.Errorf("process %d survived SignalAll(SIGKILL)", p)
				}
			}
		})
	}
}

func TestExec(t *testing.T) {
	bundle := busyboxBundle(t)
	write(t, filepath.Join(bundle, "rootfs/marker"), "in the container\n")
	s := testSpec("sh", "-c", "echo ready; exec sleep 1000")
	out := newCapture(t)
	c := create(t, options(t, bundle, s, out))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "ready")

	eout := newCapture(t)
	um := uint32(0o077)
	p, err := c.Exec(&specs.Process{
		Args: []string{"sh", "-c", "hostname; cat /marker; cat /proc/1/cmdline | head -c 5; echo; id -u; pwd; umask; echo $FOO; exit 4"},
		Env:  []string{"PATH=/bin", "FOO=bar"},
		Cwd:  "/tmp",
		User: specs.User{UID: 1000, GID: 1000, Umask: &um},
	}, nil, eout.w, eout.w, false)
	if err != nil {
		eout.closeWriter()
		t.Fatalf("%v; output: %s; init state %s", err, eout.wait(t), procState(c.Pid()))
	}
	eout.closeWriter()
	ws, err := p.Wait()
	if err != nil || ws.ExitStatus() != 4 {
		t.Errorf("exec'd process: %s, %v; want exit status 4", describeStatus(ws), err)
	}
	if got, want := eout.wait(t), "hulltest\nin the container\nsleep\n1000\n/tmp\n0077\nbar\n"; got != want {
		t.Errorf("exec output %q, want %q", got, want)
	}
	if err := p.Signal(unix.SIGTERM); !errors.Is(err, ErrExited) {
		t.Errorf("Signal after exit: %v", err)
	}

	// A long-running exec'd process: Signal reaches it; it is in the
	// container's processes.
	p, err = c.Exec(&specs.Process{Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, nil, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if pids := waitPids(t, c, 2); !contains(pids, p.Pid) {
		t.Errorf("pids %v lack the exec'd %d", pids, p.Pid)
	}
	if err := p.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ws, _ := p.Wait(); !ws.Signaled() {
		t.Errorf("exec'd sleep: %s, want killed", describeStatus(ws))
	}

	_, err = c.Exec(&specs.Process{Args: []string{"no-such-tool"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, nil, nil, nil, false)
	if err == nil || err.Error() != `exec: "no-such-tool": executable file not found in $PATH` {
		t.Errorf("exec of a missing program: %v", err)
	}
}

func TestBadProgramFailsStart(t *testing.T) {
	bundle := busyboxBundle(t)
	out := newCapture(t)
	c := create(t, options(t, bundle, testSpec("no-such-program", "arg"), out))
	err := c.Start()
	if err == nil || err.Error() != `exec: "no-such-program": executable file not found in $PATH` {
		t.Errorf("Start = %v, want exec's not-found error", err)
	}
	if ws, _ := c.Wait(); ws.ExitStatus() != 127 {
		t.Errorf("init: %s, want exit status 127", describeStatus(ws))
	}
	c2 := create(t, options(t, bundle, testSpec("/etc/passwd"), out))
	if err := c2.Start(); !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "exec /etc/passwd: permission denied") {
		t.Errorf("Start of a non-executable = %v", err)
	}
	if err := c2.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v", err)
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("true")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/does/not/exist", Options: []string{"bind"}})
	out := newCapture(t)
	o := options(t, bundle, s, out)
	r := &testReaper{}
	o.Reaper = r
	c, err := Create(o)
	if err == nil {
		c.Signal(unix.SIGKILL)
		t.Fatal("Create succeeded with a missing bind source")
	}
	if want := "mount /does/not/exist on /mnt: stat /does/not/exist: no such file or directory"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(r.pids) != 1 {
		t.Fatalf("reaper saw %v", r.pids)
	}
	if err := unix.Kill(r.pids[0], 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("the init %d is still there (kill 0: %v)", r.pids[0], err)
	}

	// A failing createRuntime callback kills the init too.
	r = &testReaper{}
	o = options(t, bundle, testSpec("true"), out)
	o.Reaper = r
	o.CreateRuntime = func(int) error { return errors.New("hook said no") }
	if _, err := Create(o); err == nil || err.Error() != "createRuntime: hook said no" {
		t.Errorf("Create = %v", err)
	}
	if len(r.pids) != 1 || !errors.Is(unix.Kill(r.pids[0], 0), unix.ESRCH) {
		t.Errorf("init left behind: %v", r.pids)
	}

	// A spec error from the init, and one refused before anything starts.
	s = testSpec("true")
	s.Linux.Sysctl = map[string]string{"kernel.no_such_sysctl": "1"}
	if _, err := Create(options(t, bundle, s, out)); err == nil || !strings.Contains(err.Error(), "linux.sysctl kernel.no_such_sysctl=1") {
		t.Errorf("bad sysctl: %v", err)
	}
	s = testSpec("true")
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "user", Path: "/proc/1/ns/user"}}
	if _, err := Create(options(t, bundle, s, out)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("user namespace by path: %v", err)
	}
}

func TestHooksAndState(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("true")
	// createContainer runs before pivot_root (host paths); startContainer
	// after it, inside the container.
	s.Hooks = &specs.Hooks{
		CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + bundle + "/created.json; echo $X >> " + bundle + "/created.json"},
			Env: []string{"X=envok"}}},
		StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > /started.json"}}},
	}
	out := newCapture(t)
	o := options(t, bundle, s, out)
	var rtPid int
	o.CreateRuntime = func(pid int) error { rtPid = pid; return nil }
	c := create(t, o)
	if rtPid != c.Pid() {
		t.Errorf("CreateRuntime got pid %d, want %d", rtPid, c.Pid())
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(bundle, "created.json"))
	if err != nil {
		t.Fatal(err)
	}
	created, env, _ := strings.Cut(string(b), "}")
	created += "}"
	var st specs.State
	if err := json.Unmarshal([]byte(created), &st); err != nil || st.Status != specs.StateCreating || st.Pid != c.Pid() ||
		st.Bundle != bundle || env != "envok\n" {
		t.Errorf("createContainer hook read %q (%v), env %q", created, err, env)
	}
	b, err = os.ReadFile(filepath.Join(bundle, "rootfs/started.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Status != specs.StateCreated || st.Pid != c.Pid() {
		t.Errorf("startContainer hook read %q (%v)", b, err)
	}

	// A failing hook fails Create and says so; a slow one times out.
	one := 1
	s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo nope; exit 2"}}}}
	if _, err := Create(options(t, bundle, s, out)); err == nil ||
		!strings.Contains(err.Error(), "createContainer hook #0 (/bin/sh): exit status 2, output: nope") {
		t.Errorf("failing hook: %v", err)
	}
	s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &one}}}
	c = create(t, options(t, bundle, s, out))
	start := time.Now()
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Errorf("slow hook: %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the timeout took %v", d)
	}
}

func TestExtraFilesAndTerminal(t *testing.T) {
	bundle := busyboxBundle(t)
	extra := newCapture(t)
	s := testSpec("sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd | wc -l")
	out := newCapture(t)
	o := options(t, bundle, s, out)
	o.ExtraFiles = []*os.File{extra.w}
	c := create(t, o)
	out.closeWriter()
	extra.closeWriter()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := extra.wait(t); got != "via-fd3\n" {
		t.Errorf("fd 3 got %q", got)
	}
	// 0, 1, 2, 3 and the directory ls reads: nothing leaked.
	if got := strings.TrimSpace(out.wait(t)); got != "5" {
		t.Errorf("the container has %s fds open, want 5 (0-3 and ls's own)", got)
	}

	master, slave := openPty(t)
	s = testSpec("sh", "-c", "test -t 0 && echo is-a-tty; ls -l /dev/console | head -c 1; echo")
	o = Options{ID: "tty", Bundle: bundle, Spec: s, Stdin: slave, Stdout: slave, Stderr: slave, Terminal: true,
		InitCommand: []string{os.Args[0]}}
	c = create(t, o)
	slave.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, master); close(done) }()
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pty output did not end")
	}
	if got := strings.ReplaceAll(buf.String(), "\r", ""); got != "is-a-tty\nc\n" {
		t.Errorf("terminal output %q", got)
	}
}

// TestCgroupPlacementAndFreeze starts a container in a cgroup of its own
// (Options.Cgroup): Exec'd processes land in it, Pause uses its freezer.
func TestCgroupPlacementAndFreeze(t *testing.T) {
	bundle := busyboxBundle(t)
	mnt, err := cgroup2Mount()
	if err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
	ours, err := cgroupDir("self")
	if err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(ours, "hull-container-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // until the killed processes are gone
		}
	})
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	s := testSpec("sh", "-c", "echo ready; exec sleep 1000")
	out := newCapture(t)
	o := options(t, bundle, s, out)
	o.Cgroup = cg
	c := create(t, o)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "ready")
	want := "0::/" + strings.TrimPrefix(strings.TrimPrefix(dir, mnt), "/")
	cgroupOf := func(pid int) string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "0::") {
				return l
			}
		}
		return ""
	}
	if got := cgroupOf(c.Pid()); got != want {
		t.Errorf("init in %q, want %q", got, want)
	}
	p, err := c.Exec(&specs.Process{Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, nil, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := cgroupOf(p.Pid); got != want {
		t.Errorf("exec'd process in %q, want %q", got, want)
	}
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.events")); !strings.Contains(string(b), "frozen 1") {
		t.Errorf("paused, but cgroup.events says %q", b)
	}
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.events")); !strings.Contains(string(b), "frozen 0") {
		t.Errorf("resumed, but cgroup.events says %q", b)
	}
	if err := c.SignalAll(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	c.Wait()
}

// TestNamespacesByPath: a second container joins the first one's pid,
// uts, ipc and network namespaces by path (the pid one without an extra
// fork: the spawning thread joins it), and a third one joins a mount
// namespace by path.
func TestNamespacesByPath(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "echo ready; exec sleep 1000")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"}, specs.LinuxNamespace{Type: "cgroup"})
	out := newCapture(t)
	a := create(t, options(t, bundle, s, out))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "ready")

	ns := func(kind string) string { return fmt.Sprintf("/proc/%d/ns/%s", a.Pid(), kind) }
	s2 := testSpec("sh", "-c", "hostname; cat /proc/1/cmdline | head -c 5; echo; echo $$")
	s2.Hostname = ""
	s2.Linux.Namespaces = []specs.LinuxNamespace{{Type: "pid", Path: ns("pid")}, {Type: "uts", Path: ns("uts")},
		{Type: "ipc", Path: ns("ipc")}, {Type: "network", Path: ns("net")}, {Type: "mount"}}
	got, ws := runContainer(t, busyboxBundle(t), s2)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 3 || lines[0] != "hulltest" || lines[1] != "sleep" || lines[2] == "1" {
		t.Errorf("joined container: %q (%s); want the first one's hostname, its pid 1, and a pid other than 1", got, describeStatus(ws))
	}
	// Exec into a container with a time namespace of its own is refused.
	if _, err := a.Exec(&specs.Process{Args: []string{"true"}, Cwd: "/"}, nil, nil, nil, false); !errors.Is(err, ErrUnsupported) {
		t.Errorf("exec with a time namespace: %v", err)
	}

	// A mount namespace by path: a copy of ours held by a host process.
	holder, err := os.StartProcess("/bin/busybox", []string{"unshare", "-m", "sleep", "1000"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("unshare: %v", err)
	}
	defer func() { holder.Kill(); holder.Wait() }()
	mntPath := fmt.Sprintf("/proc/%d/ns/mnt", holder.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		theirs, err1 := nsOf(strconv.Itoa(holder.Pid), "mnt")
		ours, _ := nsOf("self", "mnt")
		if err1 == nil && theirs != ours {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder never unshared its mount namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s3 := testSpec("sh", "-c", "echo in-joined-mnt")
	s3.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount", Path: mntPath}, {Type: "pid"}, {Type: "uts"}}
	if got, ws := runContainer(t, busyboxBundle(t), s3); got != "in-joined-mnt\n" {
		t.Errorf("mount namespace by path: %q (%s)", got, describeStatus(ws))
	}
}

// TestSeccomp loads a profile through the Seccomp hook (agent/seccomp),
// with no_new_privileges (just before exec) and without it (before the
// capabilities go, as it then needs CAP_SYS_ADMIN), for a non-root user.
func TestSeccomp(t *testing.T) {
	bundle := busyboxBundle(t)
	if err := os.Chmod(filepath.Join(bundle, "rootfs/tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	eperm := uint(unix.EPERM)
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eperm}},
	}
	for _, nnp := range []bool{true, false} {
		s := testSpec("sh", "-c", "mkdir /tmp/x || echo denied; touch /tmp/y && echo touched")
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Process.NoNewPrivileges = nnp
		s.Linux.Seccomp = profile
		out, ws := runContainer(t, bundle, s)
		if !strings.Contains(out, "denied") || !strings.Contains(out, "touched") || strings.Count(out, "\n") != 3 {
			t.Errorf("noNewPrivileges=%v: %q (%s): want mkdir refused, touch allowed", nnp, out, describeStatus(ws))
		}
	}
}
