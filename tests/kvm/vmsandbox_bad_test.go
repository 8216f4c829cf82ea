package kvmtests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/initramfs"
	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmsandbox"
)

// The vm sandbox when things go wrong with a VM: a guest that never
// answers, one that stops before its agent answers, a VMM killed with
// SIGKILL; and the start-latency timeline in `--debug --log`. The bad
// inputs refused before a VM exists are in tests/cli/vmsandbox_test.go.

// hangMarker is tests/guest/hello-init's HangMarker (the path in the
// initramfs, without the leading slash).
const hangMarker = "hello-init.hang"

// fakeImageCache makes a guest image cache (guestimage.EnvCache) whose
// default image is the test image's kernel with hello-init as /init, and
// with hang also the marker that keeps hello-init up without an agent.
func fakeImageCache(t *testing.T, hang bool) string {
	t.Helper()
	kernel := testtier.RequireFile(t, envImageKernel, "guest image kernel (make guest)")
	initBin := testtier.RequireFile(t, envInit, "hello-init (bin/hello-init)")
	data, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	files := initramfs.Minimal(data)
	if hang {
		files = append(files, initramfs.File{Path: hangMarker, Mode: 0o644})
	}
	cache := socketDir(t) // tmpfs in the nested runner: the VMM reads it
	img := filepath.Join(cache, "image-fake")
	if err := os.Mkdir(img, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(img, "initrd"))
	if err != nil {
		t.Fatal(err)
	}
	err = initramfs.Write(f, files, initramfs.Options{})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(kernel, filepath.Join(img, "vmlinux")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("image-fake", filepath.Join(cache, "image-default")); err != nil {
		t.Fatal(err)
	}
	return cache
}

// vmBundleWith is vmBundle with its config changed by edit.
func vmBundleWith(t *testing.T, edit func(*specs.Spec), args ...string) string {
	t.Helper()
	dir := vmBundle(t, args...)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	edit(&s)
	testbundle.WriteSpec(t, dir, &s)
	return dir
}

// fails runs hull and checks a one-line error with each of wants.
func (e *vmEnv) fails(args []string, wants ...string) vmResult {
	e.t.Helper()
	r := e.hull(args...)
	msg := strings.TrimSuffix(r.stderr, "\n")
	if r.status != 1 || msg == "" || strings.Contains(msg, "\n") {
		e.t.Errorf("hull %s: exit %d, stderr %q: want exit 1 and one line", strings.Join(args, " "), r.status, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			e.t.Errorf("hull %s: stderr %q, want %q", strings.Join(args, " "), msg, w)
		}
	}
	return r
}

// nothingLeft checks --root holds nothing but the VM templates (shared by
// every container, vmsandbox/template.go) and no process is the
// container's VMM (its command line names the container's state
// directory).
func (e *vmEnv) nothingLeft(id string) {
	e.t.Helper()
	ents, _ := os.ReadDir(e.root)
	for _, ent := range ents {
		if ent.Name() != vmsandbox.TemplatesDir {
			e.t.Errorf("left under --root: %s", ent.Name())
		}
	}
	for _, p := range procsNaming(filepath.Join(e.root, id)) {
		e.t.Errorf("process left behind: %s", p)
	}
}

// procsNaming lists the live processes whose command line holds s.
func procsNaming(s string) []string {
	var out []string
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, s) && procState(filepath.Base(filepath.Dir(p))) != "Z" {
			out = append(out, filepath.Base(filepath.Dir(p))+": "+cmd)
		}
	}
	return out
}

// procState is the state letter of /proc/PID/stat ("" when gone).
func procState(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2 : i+3]
	}
	return "?"
}

// TestVMSandboxBootTimeout: a guest that boots but never starts an agent
// fails create after hull.vm.boot_timeout with an error that says so and
// quotes the console's last line; the VMM is gone and --root is empty.
// The timeline so far and the console's end are in --log.
func TestVMSandboxBootTimeout(t *testing.T) {
	e := newVMEnv(t)
	e.env = []string{"HULL_CACHE=" + fakeImageCache(t, true)}
	b := vmBundleWith(t, func(s *specs.Spec) {
		// A boot, not a template's restore: a template VM of this
		// image would time out first, doubling the wait.
		s.Annotations = map[string]string{runtime.AnnotationVMBootTimeout: "10s", runtime.AnnotationVMTemplate: "false"}
	}, "true")
	logf := filepath.Join(t.TempDir(), "log.json")
	start := time.Now()
	e.fails([]string{"--debug", "--log", logf, "--log-format", "json", "create", "--bundle", b, "bt1"},
		"hull: create: the guest's agent did not answer within 10s (annotation hull.vm.boot_timeout)",
		`console.log ends: "hello-init: /hello-init.hang found: staying up without an agent"`)
	took := time.Since(start)
	t.Logf("create failed after %v", took.Round(time.Millisecond))
	if took < 10*time.Second || took > 40*time.Second {
		t.Errorf("create took %v with a 10 s boot timeout", took)
	}
	e.nothingLeft("bt1")
	log, _ := os.ReadFile(logf)
	phases, err := runtime.ParseVMPhases(strings.NewReader(string(log)))
	if err != nil {
		t.Fatal(err)
	}
	names := phaseNames(phases["bt1"])
	for _, want := range []string{runtime.PhaseVMMProcess, runtime.PhaseVMMStart, "first KVM_RUN"} {
		if !strings.Contains(names, want) {
			t.Errorf("--log timeline %q lacks %q\n%s", names, want, log)
		}
	}
	if strings.Contains(names, runtime.PhaseAgentReady) {
		t.Errorf("--log timeline %q has the agent ready", names)
	}
	if !strings.Contains(string(log), `"level":"debug","msg":"the failed VM's console (last lines)"`) ||
		!strings.Contains(string(log), "hello-init: pid=1") || !strings.Contains(string(log), `"level":"error"`) {
		t.Errorf("--log lacks the console's end or the error:\n%s", log)
	}
}

// TestVMSandboxGuestStops: a guest that restarts before any agent answers
// (hello-init as it is) fails create at once, saying how the VM stopped.
func TestVMSandboxGuestStops(t *testing.T) {
	e := newVMEnv(t)
	e.env = []string{"HULL_CACHE=" + fakeImageCache(t, false)}
	b := vmBundleWith(t, func(s *specs.Spec) {
		s.Annotations = map[string]string{runtime.AnnotationVMTemplate: "false"} // a boot, not a restore
	}, "true")
	start := time.Now()
	e.fails([]string{"run", "--bundle", b, "gs1"},
		"hull: run: the VM stopped before its agent answered: reset", `; console.log ends: "`, "Restarting system")
	t.Logf("run failed after %v", time.Since(start).Round(time.Millisecond))
	e.nothingLeft("gs1")
}

// TestVMSandboxVMMKilled: the VMM of a running container killed with
// SIGKILL: state says stopped, delete removes everything, and a second
// delete says the container does not exist.
func TestVMSandboxVMMKilled(t *testing.T) {
	e := newVMEnv(t)
	b := vmBundle(t, "sleep", "100")
	e.ok("create", "--bundle", b, "vk1")
	defer e.hull("delete", "--force", "vk1")
	e.ok("start", "vk1")
	var s specs.State
	if err := json.Unmarshal([]byte(e.ok("state", "vk1").stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Status != specs.StateRunning || s.Pid <= 0 {
		t.Fatalf("state: %+v", s)
	}
	pid := strconv.Itoa(s.Pid)
	if cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline"); !strings.Contains(string(cmd), runtime.VMSandboxCommand) {
		t.Fatalf("state's pid %s is not the VMM: %q", pid, cmd)
	}
	children := childrenOf(pid)
	dir := filepath.Join(e.root, "vk1")
	for _, f := range []string{runtime.VsockFile, runtime.ConsoleFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("before the kill: %v", err)
		}
	}
	if err := syscall.Kill(s.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.status("vk1") != specs.StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("state is not stopped 30 s after the VMM's SIGKILL%s", e.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := e.hull("start", "vk1"); r.status == 0 {
		t.Error("start of a container whose VMM was killed succeeded")
	}
	e.ok("delete", "vk1")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory after delete: %v", err)
	}
	if st := procState(pid); st != "" && st != "Z" {
		t.Errorf("the VMM (pid %s) is still there, state %s", pid, st)
	}
	for _, c := range children {
		if st := procState(c); st != "" && st != "Z" {
			t.Errorf("the VMM's child %s is still there, state %s", c, st)
		}
	}
	e.nothingLeft("vk1")
	e.fails([]string{"delete", "vk1"}, "does not exist")
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid string) []string {
	var out []string
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == pid {
			out = append(out, filepath.Base(filepath.Dir(p)))
		}
	}
	return out
}

func phaseNames(ps []runtime.VMPhase) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

// TestVMSandboxTimeline: `hull --debug --log F --log-format json run`
// writes every phase of the container's start and end, in order.
func TestVMSandboxTimeline(t *testing.T) {
	e := newVMEnv(t)
	b := vmBundle(t, "sh", "-c", "echo timed")
	logf := filepath.Join(t.TempDir(), "log.json")
	r := e.ok("--debug", "--log", logf, "--log-format", "json", "run", "--bundle", b, "tl1")
	if r.stdout != "timed\n" {
		t.Errorf("run: stdout %q", r.stdout)
	}
	log, _ := os.ReadFile(logf)
	all, err := runtime.ParseVMPhases(strings.NewReader(string(log)))
	if err != nil {
		t.Fatal(err)
	}
	ps := all["tl1"]
	t.Logf("timeline: %s", formatPhases(ps))
	// In this order; the VM's first KVM_RUN comes after the VMM process
	// started and before the agent answers (before "vmm started" when the
	// VM boots, after it when it is restored from a template), and the
	// container may exit before `hull start` has logged its start.
	want := []string{runtime.PhaseVMMProcess, runtime.PhaseVMMStart, runtime.PhaseAgentReady,
		runtime.PhaseContainerCreated, runtime.PhaseContainerStarted}
	at := map[string]time.Duration{}
	for _, p := range ps {
		if _, dup := at[p.Name]; dup {
			t.Errorf("phase %q twice", p.Name)
		}
		at[p.Name] = p.At
	}
	for i, w := range want {
		a, ok := at[w]
		switch {
		case !ok:
			t.Errorf("no phase %q in --log:\n%s", w, log)
		case i > 0 && a < at[want[i-1]]:
			t.Errorf("phase %q at %v, before %q (%v)", w, a, want[i-1], at[want[i-1]])
		}
	}
	if a, ok := at[runtime.PhaseContainerExited]; !ok || a < at[runtime.PhaseContainerCreated] {
		t.Errorf("container exited at %v (%v): want it after the container was created", a, ok)
	}
	if a, ok := at["first KVM_RUN"]; !ok || a < at[runtime.PhaseVMMProcess] || a > at[runtime.PhaseAgentReady] {
		t.Errorf("first KVM_RUN at %v (%v): want it between the VMM process's start and the agent ready", a, ok)
	}
	if a, ok := at[runtime.PhaseVMMProcess]; ok && (a <= 0 || a > 10*time.Second) {
		t.Errorf("the VMM process started %v after create began", a)
	}
	if _, ok := at[runtime.PhaseVMStopped]; !ok {
		t.Logf("no %q phase: run deleted the container before the VM had stopped", runtime.PhaseVMStopped)
	}
}

func formatPhases(ps []runtime.VMPhase) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n  " + p.Name + ": " + p.At.Round(time.Millisecond).String())
	}
	return b.String()
}
