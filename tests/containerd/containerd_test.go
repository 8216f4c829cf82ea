// Package containerdtests runs hull under containerd, as a runc
// replacement: Debian's containerd with its runc shim
// (io.containerd.runc.v2) and `ctr run --runc-binary`, a wrapper script
// that runs hull. TestContainerd (host tier, root) has the wrapper choose
// the process sandbox; TestContainerdVM (kvm tier, root) leaves hull's
// default, the vm sandbox: each container in its own microVM. The test
// starts its own containerd (state, sockets and hull's --root under a temp
// directory) and imports a busybox image it builds itself: no registry is
// needed.
//
// Needs containerd, ctr, containerd-shim-runc-v2 (Debian: containerd) and a
// static busybox (busybox-static); skips with one line without them, or
// where containerd cannot start.
//
// Inputs: HULL_BIN, the hull to test (default: go build ./cmd/hull).
package containerdtests

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/internal/hulltest"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/vmsandbox"
)

const (
	namespace = "hulltest"
	imageName = "hull.test/busybox:latest"
	// idPrefix starts every container id of this test.
	idPrefix = "hullctrd-"
	// cmdTimeout bounds every ctr command.
	cmdTimeout = 60 * time.Second
)

// hullBin returns HULL_BIN, or a hull built from ./cmd/hull.
func hullBin(t *testing.T) string { return hulltest.Bin(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	hulltest.Cleanup()
	os.Exit(code)
}

// staticBusybox returns the busybox to put in the image; it must be
// static, as the image holds nothing else.
func staticBusybox(t *testing.T) string {
	t.Helper()
	p := testtier.RequireTool(t, "busybox")
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("busybox %s: %v", p, err)
	}
	defer f.Close()
	for _, ph := range f.Progs {
		if ph.Type == elf.PT_INTERP {
			t.Skipf("busybox %s is dynamically linked; the image needs a static one (busybox-static)", p)
		}
	}
	return p
}

// env is one containerd of our own and the paths around it.
type env struct {
	dir         string
	ctr         string
	addr        string // containerd's gRPC socket
	log         string // containerd's log
	trace       string // every hull command line the shim ran, one a line
	wrapper     string // the --runc-binary: hull, with --sandbox=process or none (vm)
	sandbox     string // "process" or "vm"
	hull        string
	hullRoot    string // the shim's --runc-root; hull's --root is hullRoot/<namespace>
	fifoDir     string
	snapshotter string
}

func TestContainerd(t *testing.T) {
	if os.Getenv(testtier.EnvTier) == "kvm" {
		t.Skip("host-tier test (process sandbox); the kvm tier runs TestContainerdVM")
	}
	testtier.RequireRoot(t)
	runContainerd(t, "process")
}

// TestContainerdVM is TestContainerd with hull's default sandbox, the vm
// sandbox (kvm tier): the shim's create boots a microVM whose pid is the
// task's, the container's output comes back through the VMM, and its exit
// status is the VMM's.
func TestContainerdVM(t *testing.T) {
	testtier.RequireKVM(t)
	testtier.RequireRoot(t)
	if _, _, err := guestimage.Default(); err != nil {
		if os.Getenv(testtier.EnvRequireKVM) == "1" {
			t.Fatalf("no guest image for the vm sandbox: %v (%s=1: this test must not be skipped)", err, testtier.EnvRequireKVM)
		}
		t.Skipf("no guest image for the vm sandbox: %v", err)
	}
	runContainerd(t, "vm")
}

func runContainerd(t *testing.T, sandbox string) {
	containerd := testtier.RequireTool(t, "containerd")
	e := &env{ctr: testtier.RequireTool(t, "ctr"), sandbox: sandbox}
	testtier.RequireTool(t, "containerd-shim-runc-v2")
	busybox := staticBusybox(t)
	hull := hullBin(t)

	// Short paths: containerd's sockets must fit in sun_path. The vm
	// sandbox serves the rootfs to its guest over virtio-9p: tmpfs (the
	// nested runner's / is itself a 9p share).
	base := ""
	if st, err := os.Stat("/dev/shm"); sandbox == "vm" && err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "hull-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	e.dir = dir
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	e.addr = filepath.Join(dir, "containerd.sock")
	e.log = filepath.Join(dir, "containerd.log")
	e.trace = filepath.Join(dir, "hull-commands.log")
	e.hull = hull
	e.hullRoot = filepath.Join(dir, "hull-root")
	e.fifoDir = filepath.Join(dir, "fifo")
	e.wrapper = filepath.Join(dir, "hull-runc")
	flag := "--sandbox=process "
	if sandbox == "vm" {
		flag = "" // the default
	}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s %s\"$@\"\n",
		shellQuote(e.trace), shellQuote(hull), flag)
	if err := os.WriteFile(e.wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	shimSocketsOnTmpfs(t)
	e.startContainerd(t, containerd)
	// After the containers are gone (cleanups run last-first), before
	// containerd stops: what failed is in these logs.
	t.Cleanup(func() { e.removeLeftovers(t) })
	t.Cleanup(func() { e.dumpOnFailure(t) })

	tarball := filepath.Join(dir, "busybox-oci.tar")
	writeImage(t, tarball, busybox)
	e.ok(t, "images", "import", "--snapshotter", e.snapshotter, "--base-name", "hull.test/busybox", tarball)
	if out := e.ok(t, "images", "ls", "-q"); !strings.Contains(out, imageName) {
		t.Fatalf("ctr images ls: %q, want %s", out, imageName)
	}

	t.Run("RunToCompletion", e.testRunToCompletion)
	t.Run("KillTERM", e.testKillTERM)
	t.Run("KillKILL", e.testKillKILL)
	t.Run("BadCommand", e.testBadCommand)
}

// testRunToCompletion: `ctr run --rm` shows the container's output and
// exits with its status; nothing stays behind.
func (e *env) testRunToCompletion(t *testing.T) {
	r := e.ctrRun(t, "--rm", imageName, idPrefix+"run", "sh", "-c", "echo hello; echo oops >&2; exit 7")
	if r.status != 7 || r.stdout != "hello\n" || !strings.Contains(r.stderr, "oops") {
		t.Fatalf("ctr run: exit %d, stdout %q, stderr %q; want exit 7, stdout \"hello\\n\" and oops on stderr",
			r.status, r.stdout, r.stderr)
	}
	e.checkGone(t, idPrefix+"run")
}

// testKillTERM: a long-running container started with `ctr run -d` is
// RUNNING in `ctr task ls`; `ctr task kill` (SIGTERM) reaches its trap and
// it exits with the trap's status; task and container delete leave
// nothing behind.
func (e *env) testKillTERM(t *testing.T) {
	const id = idPrefix + "term"
	out := filepath.Join(e.dir, id+".out")
	// The trap is set before "ready" is written: a TERM before that would
	// be lost (pid 1 of a pid namespace ignores signals it has no handler for).
	e.ctrRun(t, "-d", "--log-uri", "file://"+out, imageName, id,
		"sh", "-c", `trap "echo got TERM; exit 3" TERM; echo ready; sleep 1000 & wait`).mustSucceed(t, "ctr run -d")
	e.waitOutput(t, out, "ready\n")
	st, pid := e.taskStatus(t, id)
	if st != "RUNNING" || pid <= 0 {
		t.Fatalf("ctr task ls: %s is %q with pid %d, want RUNNING", id, st, pid)
	}
	// containerd's pid is hull's (the sandbox's, from --pid-file).
	if hs := e.hullState(t, id); hs.Status != "running" || hs.Pid != pid {
		t.Errorf("hull state %s: %+v; want running with ctr's pid %d", id, hs, pid)
	}
	e.ok(t, "task", "kill", id)
	e.waitTask(t, id, "STOPPED")
	e.waitOutput(t, out, "ready\ngot TERM\n")
	e.deleteTask(t, id, 3)
}

// testKillKILL: `sleep` as pid 1 ignores SIGTERM; `ctr task kill -s
// SIGKILL --all` ends it.
func (e *env) testKillKILL(t *testing.T) {
	const id = idPrefix + "kill"
	e.ctrRun(t, "-d", "--null-io", imageName, id, "sleep", "1000").mustSucceed(t, "ctr run -d")
	e.waitTask(t, id, "RUNNING")
	e.ok(t, "task", "kill", "--all", "-s", "SIGKILL", id)
	e.waitTask(t, id, "STOPPED")
	e.deleteTask(t, id, 128+int(syscall.SIGKILL))
}

// testBadCommand: a program the image lacks fails `ctr run`, and the
// error containerd reports is hull's own message, which the shim reads
// from the last "level":"error" line of hull's --log (log.json), as it
// does runc's; without such a line it falls back to "<runtime> did not
// terminate successfully: exit status 1: <stderr>".
func (e *env) testBadCommand(t *testing.T) {
	id := idPrefix + "bad"
	r := e.ctrRun(t, "--rm", imageName, id, "/no/such/program")
	// Whether hull fails it at create or at start, a failed ctr run may
	// leave the task and the container: delete them as its user would.
	e.ctrCmd(cmdTimeout, "task", "delete", "--force", id)
	e.ctrCmd(cmdTimeout, "containers", "delete", id)
	t.Logf("ctr run /no/such/program: exit %d: %s", r.status, strings.TrimSpace(r.stderr))
	if r.status == 0 || !strings.Contains(r.stderr, "/no/such/program") {
		t.Fatalf("ctr run /no/such/program: exit %d, stderr %q; want a failure naming the program", r.status, r.stderr)
	}
	if !strings.Contains(r.stderr, "OCI runtime") || strings.Contains(r.stderr, "did not terminate successfully") {
		t.Errorf("ctr run /no/such/program: stderr %q; want hull's message as the OCI runtime error "+
			"(from a \"level\":\"error\" line in --log), not the shim's fallback", r.stderr)
	}
	e.checkGone(t, id)
}

// deleteTask deletes a stopped task, checks its exit status, deletes the
// container, and checks nothing stays behind.
func (e *env) deleteTask(t *testing.T, id string, wantStatus int) {
	t.Helper()
	if st, _ := e.taskStatus(t, id); st != "STOPPED" {
		t.Fatalf("%s is %q before delete, want STOPPED", id, st)
	}
	// ctr says a non-zero status only as a warning:
	// "task ID exit with non-zero exit code N".
	r := e.ctrCmd(cmdTimeout, "task", "delete", id)
	if r.status != 0 || !strings.Contains(r.stderr, fmt.Sprintf("exit code %d\"", wantStatus)) {
		t.Fatalf("ctr task delete %s: exit %d, stderr %q; want exit 0 and the task's exit code %d",
			id, r.status, r.stderr, wantStatus)
	}
	e.ok(t, "containers", "delete", id)
	e.checkGone(t, id)
}

// checkGone checks containerd forgot the container and hull's --root
// holds nothing of it.
func (e *env) checkGone(t *testing.T, id string) {
	t.Helper()
	if out := e.ok(t, "containers", "ls", "-q"); strings.Contains(out, id) {
		t.Errorf("ctr containers ls still lists %s:\n%s", id, out)
	}
	if st, _ := e.taskStatus(t, id); st != "" {
		t.Errorf("ctr task ls still lists %s (%s)", id, st)
	}
	root := filepath.Join(e.hullRoot, namespace)
	ents, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if ent.Name() != vmsandbox.TemplatesDir { // the vm sandbox's VM templates: shared, kept
			t.Errorf("left under hull's --root %s: %s", root, ent.Name())
		}
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte("/"+id+"/rootfs")) {
		t.Errorf("the rootfs of %s is still mounted", id)
	}
}

// hullState is `hull state` of a container under the shim's --root.
func (e *env) hullState(t *testing.T, id string) (s struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}) {
	t.Helper()
	out, err := exec.Command(e.hull, "--root", filepath.Join(e.hullRoot, namespace), "state", id).Output()
	if err != nil {
		t.Fatalf("hull state %s: %v", id, err)
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("hull state %s: %v\n%s", id, err, out)
	}
	return s
}

// startContainerd starts containerd on a config of ours and waits until
// it answers; it skips the test when containerd cannot start here.
func (e *env) startContainerd(t *testing.T, bin string) {
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
# only what ctr run needs: no CRI, no snapshotters this host may lack
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.opt",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "debug"
`, filepath.Join(e.dir, "root"), filepath.Join(e.dir, "state"), e.addr, e.addr+".ttrpc")
	cfgPath := filepath.Join(e.dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("containerd cannot start here: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Errorf("containerd did not stop in 20 s after SIGTERM; killing it")
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Skipf("containerd cannot start here: it exited (%v): %s", err, lastLine(e.log))
		default:
		}
		if _, err := os.Stat(e.addr); err == nil {
			if r := e.ctrCmd(5*time.Second, "version"); r.status == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Skipf("containerd cannot start here: no answer on %s after 30 s: %s", e.addr, lastLine(e.log))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// overlayfs where the kernel and the file system under e.dir allow
	// it (containerd's default), else the native snapshotter. The plugin
	// says ok without the kernel's overlay module (the nested runner's L1
	// loads only what it needs): ask /proc/filesystems too.
	e.snapshotter = "native"
	for _, line := range strings.Split(e.ok(t, "plugins", "ls"), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "io.containerd.snapshotter.v1" && f[1] == "overlayfs" && f[3] == "ok" && kernelHasOverlay() {
			e.snapshotter = "overlayfs"
		}
	}
	t.Logf("containerd up (snapshotter %s, log %s)", e.snapshotter, e.log)
}

// removeLeftovers deletes the tasks and containers a failed test left,
// so that no shim, container or mount outlives the test, then checks that
// no shim of our containerd and no agent of our containers still runs
// (killing them if they do).
func (e *env) removeLeftovers(t *testing.T) {
	for _, id := range strings.Fields(e.ctrCmd(cmdTimeout, "containers", "ls", "-q").stdout) {
		e.ctrCmd(cmdTimeout, "task", "delete", "--force", id)
		e.ctrCmd(cmdTimeout, "containers", "delete", id)
	}
	e.ctrCmd(cmdTimeout, "images", "rm", imageName)
	ours := func() map[int]string {
		procs := map[int]string{}
		ents, _ := os.ReadDir("/proc")
		for _, ent := range ents {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			b, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
			cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
			isShim := strings.Contains(cmd, "containerd-shim") && strings.Contains(cmd, e.addr)
			if isShim || strings.Contains(cmd, "__agent --id "+idPrefix) || strings.Contains(cmd, "__vm-sandbox --id "+idPrefix) {
				procs[pid] = cmd
			}
		}
		return procs
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(ours()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for pid, cmd := range ours() {
		t.Errorf("still running after the test: pid %d: %s (killing it)", pid, cmd)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// dumpOnFailure shows what tells why hull failed under containerd: the
// hull commands the shim ran, containerd's log (with the shim's), and the
// logs still on disk: the bundles' log.json (hull's --log) and the agents'
// agent.log under hull's --root.
func (e *env) dumpOnFailure(t *testing.T) {
	if !t.Failed() {
		return
	}
	show := func(what, path string, tail int, keep func(string) bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Logf("%s (%s): %v", what, path, err)
			return
		}
		if len(b) == 0 {
			t.Logf("%s (%s): empty", what, path)
			return
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if keep == nil || keep(l) {
				lines = append(lines, l)
			}
		}
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		t.Logf("%s (%s, last %d lines):\n%s", what, path, len(lines), strings.Join(lines, "\n"))
	}
	show("hull commands run by the shim", e.trace, 100, nil)
	// The shim's messages are in containerd's log; of its debug lines
	// only the task events (create, start, exit, delete) tell anything.
	show("containerd's log", e.log, 80, func(l string) bool {
		if strings.Contains(l, `msg="loading plugin`) {
			return false
		}
		return !strings.Contains(l, "level=debug") || strings.Contains(l, "topic=/tasks/")
	})
	logs, _ := filepath.Glob(filepath.Join(e.dir, "state", "io.containerd.runtime.v2.task", namespace, "*", "log.json"))
	agents, _ := filepath.Glob(filepath.Join(e.hullRoot, namespace, "*", "agent.log"))
	vms, _ := filepath.Glob(filepath.Join(e.hullRoot, namespace, "*", "vm.log"))
	consoles, _ := filepath.Glob(filepath.Join(e.hullRoot, namespace, "*", "console.log"))
	for _, p := range append(append(append(logs, agents...), vms...), consoles...) {
		show("log", p, 50, nil)
	}
}

type result struct {
	stdout, stderr string
	status         int
}

func (r result) mustSucceed(t *testing.T, what string) {
	t.Helper()
	if r.status != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.status, r.stdout, r.stderr)
	}
}

// ctrCmd runs ctr against our containerd, in our namespace, with a time
// limit. Its output goes to files: a task's stdio may outlive ctr.
func (e *env) ctrCmd(limit time.Duration, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.ctr, append([]string{"--address", e.addr, "--namespace", namespace}, args...)...)
	o, err := os.CreateTemp(e.dir, "ctr-out-")
	if err != nil {
		return result{stderr: err.Error(), status: -1}
	}
	defer os.Remove(o.Name())
	defer o.Close()
	er, err := os.CreateTemp(e.dir, "ctr-err-")
	if err != nil {
		return result{stderr: err.Error(), status: -1}
	}
	defer os.Remove(er.Name())
	defer er.Close()
	cmd.Stdout, cmd.Stderr = o, er
	err = cmd.Run()
	ob, _ := os.ReadFile(o.Name())
	eb, _ := os.ReadFile(er.Name())
	r := result{stdout: string(ob), stderr: string(eb)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.status = -1
		r.stderr += fmt.Sprintf("\n(ctr %s: still running after %s; killed)", strings.Join(args, " "), limit)
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		r.status = -1
		r.stderr += "\n" + err.Error()
	}
	return r
}

// ok runs ctr and fails the test unless it exits 0; it returns stdout.
func (e *env) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := e.ctrCmd(cmdTimeout, args...)
	if r.status != 0 {
		t.Fatalf("ctr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.status, r.stdout, r.stderr)
	}
	return r.stdout
}

// ctrRun runs `ctr run` with the runc shim and hull as its runc, hull's
// --root under our temp directory.
func (e *env) ctrRun(t *testing.T, args ...string) result {
	t.Helper()
	full := append([]string{"run", "--runtime", "io.containerd.runc.v2", "--runc-binary", e.wrapper,
		"--runc-root", e.hullRoot, "--snapshotter", e.snapshotter, "--fifo-dir", e.fifoDir}, args...)
	r := e.ctrCmd(cmdTimeout, full...)
	t.Logf("ctr %s: exit %d", strings.Join(full, " "), r.status)
	return r
}

// taskStatus returns the task's STATUS and PID in `ctr task ls`, or ""
// when it is not listed.
func (e *env) taskStatus(t *testing.T, id string) (string, int) {
	t.Helper()
	for _, line := range strings.Split(e.ok(t, "task", "ls"), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return f[2], pid
		}
	}
	return "", 0
}

func (e *env) waitTask(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := e.taskStatus(t, id)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %q after 20 s, want %s", id, st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOutput waits until the file holds exactly want.
func (e *env) waitOutput(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q after 20 s, want %q", path, b, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shimSocketDir is where containerd 1.6's runc shim binds its sockets,
// whatever containerd's own paths are.
const shimSocketDir = "/run/containerd/s"

// shimSocketsOnTmpfs mounts a tmpfs on shimSocketDir when it lies on 9p,
// where Unix sockets cannot be bound: in the nested runner, / is the
// host's root shared over 9p (the mount is L1's alone).
func shimSocketsOnTmpfs(t *testing.T) {
	if err := os.MkdirAll(shimSocketDir, 0o711); err != nil {
		t.Fatal(err)
	}
	if fsType(shimSocketDir) != "9p" {
		return
	}
	if err := syscall.Mount("tmpfs", shimSocketDir, "tmpfs", 0, "mode=0711"); err != nil {
		t.Fatalf("%s is on 9p, where the shim cannot bind its sockets, and mounting a tmpfs there failed: %v", shimSocketDir, err)
	}
	t.Logf("%s is on 9p: the shim's sockets go to a tmpfs mounted there", shimSocketDir)
	t.Cleanup(func() {
		if err := syscall.Unmount(shimSocketDir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", shimSocketDir, err)
		}
	})
}

// fsType is the type of the mount that holds path, from /proc/mounts
// (statfs would not do: 9p passes on the host file system's magic).
func fsType(path string) string {
	b, _ := os.ReadFile("/proc/mounts")
	best, typ := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, f[2]
		}
	}
	return typ
}

// kernelHasOverlay reports whether the kernel knows overlayfs, loading
// its module if need be.
func kernelHasOverlay() bool {
	has := func() bool {
		b, _ := os.ReadFile("/proc/filesystems")
		return bytes.Contains(b, []byte("\toverlay\n"))
	}
	if has() {
		return true
	}
	_ = exec.Command("modprobe", "overlay").Run() // where it fails, has() says so
	return has()
}

func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeImage writes an OCI image layout as a tar (what `ctr images
// import` takes) holding one uncompressed layer: busybox, its applets'
// links and the directories the runtime mounts on. Its single manifest is
// tagged "latest" (--base-name names the repository).
func writeImage(t *testing.T, path, busybox string) {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	mtime := time.Unix(0, 0)
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: mtime}))
	}
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), ModTime: mtime}))
	_, err = tw.Write(bb)
	must(t, err)
	for _, a := range []string{"sh", "echo", "sleep", "cat", "true", "false", "ls", "ps"} {
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime}))
	}
	must(t, tw.Close())

	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Platform    map[string]string `json:"platform,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	blobs := map[string][]byte{}
	blob := func(mediaType string, b []byte) descriptor {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = b
		return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		must(t, err)
		return b
	}
	layerDesc := blob("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	configDesc := blob("application/vnd.oci.image.config.v1+json", marshal(map[string]any{
		"architecture": goruntime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"sh"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
	}))
	manifestDesc := blob("application/vnd.oci.image.manifest.v1+json", marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        []descriptor{layerDesc},
	}))
	manifestDesc.Platform = map[string]string{"architecture": goruntime.GOARCH, "os": "linux"}
	manifestDesc.Annotations = map[string]string{"org.opencontainers.image.ref.name": "latest"}
	index := marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})

	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	ow := tar.NewWriter(f)
	add := func(name string, b []byte) {
		must(t, ow.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}))
		_, err := ow.Write(b)
		must(t, err)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for d, b := range blobs {
		add("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	must(t, ow.Close())
	must(t, f.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
