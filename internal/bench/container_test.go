package bench

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeRuntime stands in for `hull --sandbox=process|vm` and runc: it keeps
// each container's status in a directory under --root, logs every call as
// "VERB ROOT ARGS" to NAME.log beside itself, and reports "stopped" from
// the stopAfter-th `state` call after start. Extra shell code runs after
// the verb is known ($verb, $root, "$@" the verb's arguments).
func fakeRuntime(t *testing.T, dir, name string, stopAfter int, extra string) string {
	t.Helper()
	return script(t, dir, name, `PATH=/usr/bin:/bin
root=
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --sandbox=*) shift ;;
    --log) log=$2; shift 2 ;;
    --log-format) shift 2 ;;
    --debug) shift ;;
    *) break ;;
  esac
done
verb=$1; shift
[ "$verb" != --version ] || { echo "${0##*/} version 9.9-fake"; echo "spec: 1.0.2"; exit 0; }
echo "$verb $root $*" >> "$0.log"
`+extra+`
bundle= force=
while [ $# -gt 1 ]; do
  case $1 in --bundle) bundle=$2; shift ;; --force) force=1 ;; esac
  shift
done
id=$1 d=$root/$1
exists() { [ -d "$d" ] || { echo "container $id does not exist" >&2; exit 1; }; }
case $verb in
run)
  [ -f "$bundle/config.json" ] || { echo "no config.json in $bundle" >&2; exit 1; } ;;
create)
  [ -f "$bundle/config.json" ] || { echo "no config.json in $bundle" >&2; exit 1; }
  [ ! -e "$d" ] || { echo "container $id exists" >&2; exit 1; }
  mkdir "$d" && echo created > "$d/status" && echo 0 > "$d/polls" ;;
start)
  exists; echo running > "$d/status" ;;
state)
  exists
  n=$(($(cat "$d/polls") + 1)); echo $n > "$d/polls"
  s=$(cat "$d/status")
  if [ "$s" = running ] && [ $n -ge `+strconv.Itoa(stopAfter)+` ]; then s=stopped; echo $s > "$d/status"; fi
  printf '{"ociVersion":"1.0.2","id":"%s","status":"%s","pid":0,"bundle":"/b"}\n' "$id" "$s" ;;
delete)
  [ -n "$force" ] || exists
  [ ! -f "$d/pid" ] || kill "$(cat "$d/pid")" 2>/dev/null
  rm -rf "$d" ;;
*)
  echo "unknown verb $verb" >&2; exit 2 ;;
esac
`)
}

// testBundleConfig is testBundle's config.json: the fake runtimes only
// look for it, the vm-boot row copies it with an annotation.
const testBundleConfig = `{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},"hostname":"h","annotations":{"x":"y"}}`

// testBundle is a directory with a config.json (and no rootfs).
func testBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(testBundleConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readLog(t *testing.T, runtime string) []string {
	t.Helper()
	b, err := os.ReadFile(runtime + ".log")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func formatted(t *testing.T, rep *ContainerReport) string {
	t.Helper()
	var out bytes.Buffer
	if err := rep.Format(&out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func wantLines(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestRunContainerRunMode(t *testing.T) {
	dir := t.TempDir()
	bundle := testBundle(t)
	hull := fakeRuntime(t, dir, "hull", 1, "")
	runc := fakeRuntime(t, dir, "runc", 1, `[ $verb != run ] || sleep 0.3`)
	var progress bytes.Buffer
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, Runc: runc, Bundle: bundle,
		Runs: 3, Warmup: 1, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 0 {
		t.Fatalf("failures:\n%s", formatted(t, rep))
	}
	if len(rep.Hull) != 3 || len(rep.RuncRuns) != 3 {
		t.Fatalf("%d hull and %d runc runs kept, want 3 each (warm-up dropped)", len(rep.Hull), len(rep.RuncRuns))
	}
	if rep.Mode != ContainerModeRun || len(rep.Stats.Phases) != 1 || rep.Stats.Phases[0].Phase != PhaseRun {
		t.Fatalf("mode %q, phases %+v", rep.Mode, rep.Stats.Phases)
	}
	p := rep.Stats.Phases[0]
	if p.Hull.N != 3 || p.Runc.N != 3 || p.Runc.Min < 300*time.Millisecond {
		t.Errorf("run phase %+v", p)
	}
	if rep.Stats.Ratio <= 0 || rep.Stats.Ratio >= 1 || rep.Stats.Ratio != p.Ratio {
		t.Errorf("ratio = %v (phase %v), want hull (no sleep) faster than runc (0.3 s)", rep.Stats.Ratio, p.Ratio)
	}
	if got := strings.Count(progress.String(), "\n"); got != 8 {
		t.Errorf("progress has %d lines, want 8 (4 rounds × 2):\n%s", got, progress.String())
	}
	// Alternating: hull first in even rounds, runc first in odd ones.
	lines := strings.Split(progress.String(), "\n")
	if !strings.Contains(lines[0], "hull") || !strings.Contains(lines[2], "runc") {
		t.Errorf("not alternating:\n%s", progress.String())
	}

	// Each runtime: one `run` per container, its own --root, the bundle,
	// an id of its own; hull with --sandbox=process (checked by the fake's
	// parser: it would log "--sandbox=process" as the verb otherwise).
	hl, rl := readLog(t, hull), readLog(t, runc)
	if len(hl) != 4 || len(rl) != 4 {
		t.Fatalf("calls: hull %q, runc %q", hl, rl)
	}
	hf, rf := strings.Fields(hl[0]), strings.Fields(rl[0])
	if hf[0] != "run" || hf[2] != "--bundle" || hf[3] != bundle || rf[0] != "run" || rf[3] != bundle {
		t.Errorf("calls: hull %q, runc %q", hl[0], rl[0])
	}
	if hf[1] == rf[1] || !strings.HasPrefix(hf[1], os.TempDir()) {
		t.Errorf("roots: hull %q, runc %q: want two private ones", hf[1], rf[1])
	}
	if hf[4] == rf[4] || hf[4] == strings.Fields(hl[1])[4] {
		t.Errorf("ids not unique: %q %q %q", hf[4], rf[4], strings.Fields(hl[1])[4])
	}
	if _, err := os.Stat(hf[1]); !os.IsNotExist(err) {
		t.Errorf("the temporary root %s is left: %v", hf[1], err)
	}

	out := formatted(t, rep)
	wantLines(t, out,
		"hull bench container: 3 containers of each runtime (+1 warm-up), mode run",
		"  bundle   "+bundle+"\n",
		"  hull     "+hull+" --root ROOT --sandbox=process",
		"  runc     "+runc+" --root ROOT (runc version 9.9-fake)",
		"hull  run (create+start+wait+delete)  3/3",
		"runc  run (create+start+wait+delete)  3/3",
		"hull/runc, P50 run: 0.",
	)
	if strings.Contains(out, "failed runs") || strings.Contains(out, "state calls") {
		t.Errorf("report:\n%s", out)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"mode":"run"`, `"hull":[{"runtime":"hull","run":1`, `"runc_runs":[`, `"run_ns":`, `"phases":[{"phase":"run"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
}

func TestRunContainerLifecycle(t *testing.T) {
	dir := t.TempDir()
	bundle := testBundle(t)
	// hull's container stops at the second state call; runc's create is slow.
	hull := fakeRuntime(t, dir, "hull", 2, "")
	runc := fakeRuntime(t, dir, "runc", 1, `[ $verb != create ] || sleep 0.3`)
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, Runc: runc, Bundle: bundle,
		Mode: ContainerModeLifecycle, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 0 {
		t.Fatalf("failures:\n%s", formatted(t, rep))
	}
	var phases []string
	for _, p := range rep.Stats.Phases {
		phases = append(phases, p.Phase)
		if p.Hull.N != 2 || p.Runc.N != 2 || p.Hull.Min <= 0 || p.Ratio <= 0 {
			t.Errorf("phase %+v", p)
		}
	}
	if !slices.Equal(phases, ContainerPhases(ContainerModeLifecycle)) {
		t.Errorf("phases %q", phases)
	}
	for _, r := range append(rep.Hull, rep.RuncRuns...) {
		if r.Total < r.Create+r.Start+r.Wait+r.Delete || r.Wait < r.State || r.RunCall != 0 {
			t.Errorf("%s run %d: total %v, phases %v %v %v %v, state %v", r.Runtime, r.Run, r.Total, r.Create, r.Start, r.Wait, r.Delete, r.State)
		}
	}
	if rep.Hull[0].StateCalls != 2 || rep.RuncRuns[0].StateCalls != 1 {
		t.Errorf("state calls: hull %d, runc %d; want 2 and 1", rep.Hull[0].StateCalls, rep.RuncRuns[0].StateCalls)
	}
	if rep.Stats.Phases[0].Ratio >= 1 {
		t.Errorf("create ratio %v: runc's create sleeps 0.3 s", rep.Stats.Phases[0].Ratio)
	}
	var verbs []string
	for _, l := range readLog(t, hull)[:5] {
		verbs = append(verbs, strings.Fields(l)[0])
	}
	if want := []string{"create", "start", "state", "state", "delete"}; !slices.Equal(verbs, want) {
		t.Errorf("hull's calls %q, want %q", verbs, want)
	}
	wantLines(t, formatted(t, rep),
		"mode lifecycle",
		"hull  create  2/2",
		"hull  wait (start -> state says stopped)  2/2",
		"hull  total (create -> delete)  2/2",
		"runc  one state call  2/2",
		"hull/runc, P50 total: 0.",
		"(create 0.",
		"state calls until stopped, P50 (min-max): hull 2 (2-2), runc 1 (1-1)",
	)
}

// A created container keeps create's stdout and stderr open: the call
// must end when the runtime exits, not when they close.
func TestRunContainerCreateDoesNotWaitForTheContainer(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, `if [ $verb = create ]; then
  mkdir "$root/$3"; echo created > "$root/$3/status"; echo 0 > "$root/$3/polls"
  sleep 30 & echo $! > "$root/$3/pid"
  exit 0
fi`)
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: testBundle(t),
		Mode: ContainerModeLifecycle, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 0 {
		t.Fatalf("failures:\n%s", formatted(t, rep))
	}
	if c := rep.Hull[0].Create; c > 5*time.Second {
		t.Errorf("create took %v: waited for the container's stdout", c)
	}
}

func TestRunContainerFailuresShowStderr(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, `[ $verb != create ] || { echo "hull: create: the agent did not answer" >&2; exit 1; }`)
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: testBundle(t),
		Mode: ContainerModeLifecycle, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 2 || rep.Stats.Phases[0].Hull.N != 0 || rep.Stats.Ratio != 0 {
		t.Fatalf("failures %d, stats %+v", rep.Failures(), rep.Stats)
	}
	// A failed run is cleaned up with delete --force.
	log := readLog(t, hull)
	if len(log) != 4 || !strings.HasPrefix(log[1], "delete ") || !strings.Contains(log[1], " --force ") {
		t.Errorf("calls %q, want create and delete --force twice", log)
	}
	wantLines(t, formatted(t, rep),
		"hull  create  0/2  -  -  -",
		"runc baseline not run: --no-runc",
		"hull/runc: no ratio (runc baseline not run: --no-runc)",
		"hull run 1 (hull-bench-",
		"): create: exit status 1; end of its output:",
		"    | hull: create: the agent did not answer",
	)
}

func TestRunContainerRunExitStatusFails(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, `[ $verb != run ] || { echo "sh: true: not found" >&2; exit 127; }`)
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: testBundle(t), Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 1 || rep.Hull[0].ExitCode != 127 {
		t.Fatalf("report %+v", rep.Hull)
	}
	wantLines(t, formatted(t, rep), "run: exit status 127; end of its output:", "    | sh: true: not found")
}

func TestRunContainerWaitTimesOut(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1<<30, "") // never stopped
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: testBundle(t),
		Mode: ContainerModeLifecycle, Runs: 1, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 1 || !strings.Contains(rep.Hull[0].Failure, "wait: still running") {
		t.Errorf("failure %q", rep.Hull[0].Failure)
	}
}

func TestRunContainerBadState(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, `[ $verb != state ] || { echo 'not json'; exit 0; }`)
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: testBundle(t),
		Mode: ContainerModeLifecycle, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 1 || !strings.Contains(rep.Hull[0].Failure, "wait: state printed no JSON state") ||
		!strings.Contains(rep.Hull[0].Tail, "not json") {
		t.Errorf("run %+v", rep.Hull[0])
	}
}

func TestRunContainerWithoutRuncInPath(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, "")
	t.Setenv("PATH", t.TempDir()) // no runc there
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, Bundle: testBundle(t), Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runc != "" || !strings.Contains(rep.RuncNote, "no runc in PATH") || len(rep.RuncRuns) != 0 || rep.Failures() != 0 {
		t.Errorf("runc %q, note %q, %d runs, %d failures", rep.Runc, rep.RuncNote, len(rep.RuncRuns), rep.Failures())
	}
	out := formatted(t, rep)
	if !strings.Contains(out, "hull/runc: no ratio (no runc in PATH") || strings.Contains(out, "runc  run") {
		t.Errorf("report:\n%s", out)
	}
}

func TestRunContainerBadOptions(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, "")
	for _, tc := range []struct {
		name string
		o    ContainerOptions
		want string
	}{
		{"explicit runc missing", ContainerOptions{Hull: hull, Runc: filepath.Join(dir, "nope"), Bundle: testBundle(t)}, "runc"},
		{"unknown mode", ContainerOptions{Hull: hull, NoRunc: true, Mode: "exec", Bundle: testBundle(t)}, `unknown mode "exec"`},
		{"no config.json", ContainerOptions{Hull: hull, NoRunc: true, Bundle: t.TempDir()}, "--bundle"},
		{"no busybox", ContainerOptions{Hull: hull, NoRunc: true, Busybox: filepath.Join(dir, "nope")}, "no busybox"},
		{"no hull", ContainerOptions{NoRunc: true, Bundle: testBundle(t)}, "hull executable"},
	} {
		if _, err := RunContainer(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRunContainerBuildsBusyboxBundle(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil || checkStatic(busybox) != nil {
		t.Skip("no static busybox in PATH")
	}
	dir := t.TempDir()
	// The fake copies the bundle it is given, to be looked at after the run.
	hull := fakeRuntime(t, dir, "hull", 1, `[ $verb != run ] || cp -r "$2" "$(dirname "$0")/seen"`)
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Runs: 1})
	if err != nil || rep.Failures() != 0 {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	if !strings.Contains(rep.BundleNote, "built from "+busybox) {
		t.Errorf("bundle note %q", rep.BundleNote)
	}
	seen := filepath.Join(dir, "seen")
	b, err := os.ReadFile(filepath.Join(seen, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	if !slices.Equal(s.Process.Args, []string{"true"}) || s.Root.Path != "rootfs" || len(s.Mounts) != 1 || s.Mounts[0].Destination != "/proc" ||
		!slices.Equal(ns, []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace}) {
		t.Errorf("spec %s", b)
	}
	if l, err := os.Readlink(filepath.Join(seen, "rootfs/bin/true")); err != nil || l != "busybox" {
		t.Errorf("rootfs/bin/true -> %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(seen, "rootfs/bin/busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("rootfs/bin/busybox: %v", err)
	}
	if _, err := os.Stat(rep.Bundle); !os.IsNotExist(err) {
		t.Errorf("the temporary bundle %s is left: %v", rep.Bundle, err)
	}
}

func TestBusyboxBundleRefusesDynamicBusybox(t *testing.T) {
	dir := t.TempDir()
	if err := BusyboxBundle(filepath.Join(dir, "b"), script(t, dir, "busybox", "echo")); err == nil {
		t.Error("a shell script was taken for busybox")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	sh, _ = filepath.EvalSymlinks(sh)
	f, err := elf.Open(sh)
	if err != nil {
		t.Skipf("sh: %v", err)
	}
	dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	f.Close()
	if !dynamic {
		t.Skip("sh is static")
	}
	if err := BusyboxBundle(filepath.Join(dir, "b2"), sh); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("err = %v, want dynamically linked", err)
	}
}
