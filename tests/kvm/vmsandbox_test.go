package kvmtests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/internal/testtier"
)

// The vm sandbox end to end: `hull` (the default sandbox) puts a busybox
// container in its own microVM, booted from the default guest image, with
// the bundle's rootfs over virtio-9p and the agent over vsock.

type vmEnv struct {
	t         *testing.T
	bin, root string
	env       []string // added to hull's environment
}

func newVMEnv(t *testing.T) *vmEnv {
	testtier.RequireKVM(t)
	bin := testtier.RequireFile(t, envBin, "hull binary (bin/hull)")
	testtier.RequireFile(t, envImageKernel, "guest image kernel (make guest)")
	// The VMM binds its vsock socket in the state directory: tmpfs.
	root := socketDir(t)
	// Every test's root shares one templates directory: the first
	// container boots and snapshots the template VM, the rest restore it.
	if err := os.Symlink(sharedTemplates(t), filepath.Join(root, ".templates")); err != nil {
		t.Fatal(err)
	}
	return &vmEnv{t: t, bin: bin, root: root}
}

var templatesDir struct {
	sync.Once
	dir string
	err error
}

// sharedTemplates is the templates directory of this test binary's run,
// removed at its end (TestMain).
func sharedTemplates(t *testing.T) string {
	templatesDir.Do(func() {
		base := "/dev/shm"
		if st, err := os.Stat(base); err != nil || !st.IsDir() {
			base = os.TempDir()
		}
		templatesDir.dir, templatesDir.err = os.MkdirTemp(base, "hull-templates-")
	})
	if templatesDir.err != nil {
		t.Fatal(templatesDir.err)
	}
	return templatesDir.dir
}

type vmResult struct {
	stdout, stderr string
	status         int
}

func (e *vmEnv) hull(args ...string) vmResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--root", e.root}, args...)...)
	if e.env != nil {
		cmd.Env = append(os.Environ(), e.env...)
	}
	// Files: a created container's host process keeps create's stdout.
	dir := e.t.TempDir()
	o, _ := os.Create(filepath.Join(dir, "stdout"))
	er, _ := os.Create(filepath.Join(dir, "stderr"))
	defer o.Close()
	defer er.Close()
	cmd.Stdout, cmd.Stderr = o, er
	err := cmd.Run()
	ob, _ := os.ReadFile(o.Name())
	eb, _ := os.ReadFile(er.Name())
	r := vmResult{stdout: string(ob), stderr: string(eb)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		e.t.Fatalf("hull %s: still running after 3 min; stderr %s", strings.Join(args, " "), r.stderr)
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		e.t.Fatal(err)
	}
	return r
}

func (e *vmEnv) ok(args ...string) vmResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.status != 0 {
		e.t.Fatalf("hull %s: exit %d\nstderr: %s%s", strings.Join(args, " "), r.status, r.stderr, e.logs())
	}
	return r
}

// logs returns the VMs' logs under --root, for a failure message.
func (e *vmEnv) logs() string {
	var b strings.Builder
	filepath.Walk(e.root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && (strings.HasSuffix(p, "vm.log") || strings.HasSuffix(p, "console.log")) {
			c, _ := os.ReadFile(p)
			b.WriteString("\n--- " + p + "\n" + clip(string(c)))
		}
		return nil
	})
	return b.String()
}

func (e *vmEnv) status(id string) specs.ContainerState {
	e.t.Helper()
	var s specs.State
	if err := json.Unmarshal([]byte(e.ok("state", id).stdout), &s); err != nil {
		e.t.Fatal(err)
	}
	return s.Status
}

// vmBundle writes a busybox bundle under /dev/shm (the nested runner's
// 9p-shared root cannot be served again over 9p reliably).
func vmBundle(t *testing.T, args ...string) string {
	t.Helper()
	dir := socketDir(t)
	testbundle.Rootfs(t, dir, "sh", "echo", "sleep", "cat", "hostname")
	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Process:  &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Hostname: "vmbox",
		Mounts:   []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
		}},
	}
	testbundle.WriteSpec(t, dir, s)
	return dir
}

// TestVMSandboxRun: `hull run` prints the container's output and exits
// with its code; a file the container writes lands in the bundle (9p);
// nothing is left under --root.
func TestVMSandboxRun(t *testing.T) {
	e := newVMEnv(t)
	b := vmBundle(t, "sh", "-c", "echo hello from the vm; hostname; echo written > /out; echo oops >&2; exit 5")
	start := time.Now()
	r := e.hull("run", "--bundle", b, "vm1")
	t.Logf("hull run in a microVM: %v", time.Since(start).Round(time.Millisecond))
	if r.status != 5 || r.stdout != "hello from the vm\nvmbox\n" || !strings.Contains(r.stderr, "oops") {
		t.Fatalf("run: exit %d, stdout %q, stderr %q%s", r.status, r.stdout, r.stderr, e.logs())
	}
	if got, _ := os.ReadFile(filepath.Join(b, "rootfs/out")); string(got) != "written\n" {
		t.Errorf("the container's /out in the bundle: %q", got)
	}
	e.wantEmptyRoot()
}

// TestVMSandboxLifecycle: create, state, start, exec, kill, delete through
// the vm sandbox.
func TestVMSandboxLifecycle(t *testing.T) {
	e := newVMEnv(t)
	b := vmBundle(t, "sleep", "1000")
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.ok("create", "--bundle", b, "--pid-file", pidFile, "vm2")
	defer e.hull("delete", "--force", "vm2")
	if s := e.status("vm2"); s != specs.StateCreated {
		t.Fatalf("after create: %s", s)
	}
	e.ok("start", "vm2")
	if s := e.status("vm2"); s != specs.StateRunning {
		t.Fatalf("after start: %s", s)
	}
	r := e.hull("exec", "vm2", "sh", "-c", "echo exec says hi; hostname; exit 3")
	if r.status != 3 || r.stdout != "exec says hi\nvmbox\n" {
		t.Errorf("exec: exit %d stdout %q stderr %q", r.status, r.stdout, r.stderr)
	}
	e.ok("kill", "vm2", "KILL")
	deadline := time.Now().Add(30 * time.Second)
	for e.status("vm2") != specs.StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("still not stopped 30 s after kill%s", e.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.ok("delete", "vm2")
	if r := e.hull("state", "vm2"); r.status == 0 {
		t.Error("state after delete succeeded")
	}
	out, _ := exec.Command("pgrep", "-f", "__vm-sandbox --id vm2").Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("VMM process left behind: %s", out)
	}
}

// wantEmptyRoot checks that nothing but the templates is left under --root.
func (e *vmEnv) wantEmptyRoot() {
	e.t.Helper()
	ents, _ := os.ReadDir(e.root)
	for _, ent := range ents {
		if ent.Name() != ".templates" {
			e.t.Errorf("left under --root: %s", ent.Name())
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templatesDir.dir != "" {
		os.RemoveAll(templatesDir.dir)
	}
	os.Exit(code)
}
