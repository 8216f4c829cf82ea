package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// vmPhasesScript is fake shell code for fakeRuntime: with --log (the vm
// sandbox's calls), run and create log a timeline as hull's vm sandbox
// does, start its "container started". Given the vm-boot row's bundle, it
// keeps a copy of its config.json beside itself, takes 0.2 s (runc's fake
// takes 0.1) and logs its agent ready later, as a boot would.
const vmPhasesScript = `for a; do id=$a; done
ready=20
case "$*" in
*/vm-boot-bundle*)
  ready=3000; sleep 0.2
  for a; do [ "$prev" != --bundle ] || cp "$a/config.json" "$0.vm-boot-config.json"; prev=$a; done ;;
esac
phase() { printf '{"time":"x","level":"debug","msg":"vm phase","id":"%s","phase":"%s","ms":%s}\n' "$id" "$1" "$2" >> "$log"; }
if [ -n "$log" ]; then
  case $verb in
  run|create) phase "vmm process start" 1.5; phase "first KVM_RUN" 10; phase "agent ready" $ready; phase "container created" 3030 ;;
  esac
  case $verb in
  run|start) phase "container started" 3040; phase "container exited" 3050 ;;
  esac
fi`

// TestRunContainerVM: hull-vm and hull-vm-boot beside the process sandbox
// and runc, in one run: their calls, timelines, ratios, report and JSON.
func TestRunContainerVM(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, vmPhasesScript)
	runc := fakeRuntime(t, dir, "runc", 1, `[ $verb != run ] || sleep 0.1`)
	bundle := testBundle(t)
	var progress strings.Builder
	o := ContainerOptions{Hull: hull, Runc: runc, Bundle: bundle, Runs: 4, vmCheck: func() string { return "" }, Progress: &progress}
	if err := o.SetSandboxes(DefaultSandboxes); err != nil {
		t.Fatal(err)
	}
	rep, err := RunContainer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 0 || len(rep.VM) != 4 || len(rep.VMBoot) != 4 || len(rep.Hull) != 4 || len(rep.RuncRuns) != 4 {
		t.Fatalf("%d failures, runs: vm %d, vm-boot %d, hull %d, runc %d\n%s", rep.Failures(), len(rep.VM), len(rep.VMBoot),
			len(rep.Hull), len(rep.RuncRuns), formatted(t, rep))
	}
	// The vm sandbox's calls: --sandbox=vm with the log, both rows in one
	// root, hull-vm-boot's with its copy of the bundle; the process
	// sandbox's have no timeline.
	calls := readLog(t, hull)
	if len(calls) != 12 {
		t.Errorf("hull calls %q, want 12 (4 process, 4 vm, 4 vm-boot)", calls)
	}
	vmCall, bootCall := map[string]string{}, map[string]string{}
	for _, c := range calls {
		f := strings.Fields(c) // run ROOT --bundle B ID
		switch {
		case len(f) != 5:
			t.Errorf("call %q", c)
		case strings.Contains(f[4], "-"+RuntimeHullVMBoot+"-"):
			bootCall[f[1]] = f[3]
		case strings.Contains(f[4], "-"+RuntimeHullVM+"-"):
			vmCall[f[1]] = f[3]
		}
	}
	var root string
	for r := range vmCall {
		root = r
	}
	if len(vmCall) != 1 || len(bootCall) != 1 || bootCall[root] == "" || vmCall[root] != bundle ||
		filepath.Dir(bootCall[root]) != filepath.Dir(root) || filepath.Base(bootCall[root]) != "vm-boot-bundle" {
		t.Errorf("vm calls (root: bundle) %v, vm-boot calls %v: want one shared root, the bundle and its copy in the bench's temp dir", vmCall, bootCall)
	}
	// The copy: the annotation added, root.path absolute at the original
	// rootfs, the rest kept.
	b, err := os.ReadFile(hull + ".vm-boot-config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"ociVersion": "1.0.2", "hostname": "h",
		"root":        map[string]any{"path": filepath.Join(bundle, "rootfs"), "readonly": true},
		"annotations": map[string]any{"x": "y", "hull.vm.template": "false"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("vm-boot config.json\n%s\nwant %v", b, want)
	}

	if len(rep.Hull[0].VMPhases) != 0 || len(rep.VM[0].VMPhases) != 6 || len(rep.VMBoot[0].VMPhases) != 6 {
		t.Errorf("phases: process %v, vm %v, vm-boot %v", rep.Hull[0].VMPhases, rep.VM[0].VMPhases, rep.VMBoot[0].VMPhases)
	}
	tl, btl := rep.Stats.VMTimeline, rep.Stats.VMBootTimeline
	if len(tl) != len(VMTimelinePhases) || tl[1].Phase != "agent ready" || tl[1].VM.N != 4 || tl[1].VM.P50 != 20*time.Millisecond {
		t.Errorf("vm timeline %+v", tl)
	}
	if len(btl) != len(VMTimelinePhases) || btl[1].Phase != "agent ready" || btl[1].VM.N != 4 || btl[1].VM.P50 != 3*time.Second {
		t.Errorf("vm-boot timeline %+v", btl)
	}
	s := &rep.Stats
	if s.VMRatio <= 0 || s.VMRatio >= 1 || s.VMRatio != s.Phases[0].VMRatio {
		t.Errorf("vm ratio %v, phase's %v: the fake vm has no sleep, runc sleeps 0.1 s", s.VMRatio, s.Phases[0].VMRatio)
	}
	if s.VMBootRatio <= 1 || s.VMBootRatio != s.Phases[0].VMBootRatio || s.Phases[0].VMBoot.N != 4 {
		t.Errorf("vm-boot ratio %v, phase %+v: the fake vm-boot sleeps 0.2 s, runc 0.1 s", s.VMBootRatio, s.Phases[0])
	}
	// Each runtime goes first in turn.
	lines := strings.Split(progress.String(), "\n")
	for i, name := range []string{RuntimeHull, RuntimeRunc, RuntimeHullVM, RuntimeHullVMBoot} {
		if !strings.Contains(lines[4*i], " "+name+" ") {
			t.Errorf("line %d is not %s's: order:\n%s", 4*i, name, progress.String())
		}
	}
	if p := squeeze(progress.String()); !strings.Contains(p, "hull-vm run ") || !strings.Contains(p, "agent ready 20.00 ms") ||
		!strings.Contains(p, "hull-vm-boot run ") || !strings.Contains(p, "agent ready 3000.00 ms") {
		t.Errorf("progress lacks the vm timelines:\n%s", progress.String())
	}
	wantLines(t, formatted(t, rep),
		"  hull-vm  "+hull+" --root ROOT --sandbox=vm --debug --log LOG --log-format json",
		"  hull-vm-boot  "+hull+" --root ROOT --sandbox=vm --debug --log LOG --log-format json\n"+
			"  a copy of the bundle: config.json with hull.vm.template=false, the same rootfs",
		"hull-vm  run (create+start+wait+delete)  4/4",
		"hull-vm  . first KVM_RUN (since create began)  4/4  10.00 ms  10.00 ms  10.00 ms",
		"hull-vm  . agent ready (since create began)  4/4  20.00 ms",
		"hull-vm  . container exited (since create began)  4/4  3050.00 ms",
		"hull-vm-boot  run (create+start+wait+delete)  4/4",
		"hull-vm-boot  . agent ready (since create began)  4/4  3000.00 ms  3000.00 ms  3000.00 ms",
		"hull/runc, P50 run: 0.",
		"hull-vm/runc, P50 run: 0.",
		"hull-vm-boot/runc, P50 run: ",
	)
	b, err = json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"vm":[{"runtime":"hull-vm"`, `"vm_phases":[{"name":"vmm process start","at_ns":1500000}`, `"vm_timeline":[`,
		`"vm_boot":[{"runtime":"hull-vm-boot"`, `"vm_boot_timeline":[`, `"vm_boot_ratio_p50":`, `"vm_boot_ns":{`, `"vm_boot_argv":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// TestRunContainerVMBootOnly: vm-boot alone, in lifecycle mode, with a
// bundle whose root.path is absolute and that has no annotations.
func TestRunContainerVMBootOnly(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, vmPhasesScript)
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(`{"root":{"path":"/abs/rootfs"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o := ContainerOptions{Hull: hull, Bundle: bundle, Runs: 2, Mode: ContainerModeLifecycle, vmCheck: func() string { return "" }}
	if err := o.SetSandboxes("vm-boot"); err != nil {
		t.Fatal(err)
	}
	rep, err := RunContainer(context.Background(), o)
	if err != nil || rep.Failures() != 0 || len(rep.VMBoot) != 2 || len(rep.VM)+len(rep.Hull)+len(rep.RuncRuns) != 0 {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	b, err := os.ReadFile(hull + ".vm-boot-config.json")
	if err != nil || squeeze(string(b)) != squeeze(`{
  "annotations": {
    "hull.vm.template": "false"
  },
  "root": {
    "path": "/abs/rootfs"
  }
}
`) {
		t.Errorf("vm-boot config.json (%v):\n%s", err, b)
	}
	out := formatted(t, rep)
	wantLines(t, out, "hull-vm-boot  total (create -> delete)  2/2", "hull-vm-boot  . container created (since create began)  2/2  3030.00 ms",
		"hull-vm-boot/runc: no ratio (runc baseline not run: --no-runc)")
	if strings.Contains(out, "hull-vm ") || rep.VMArgv != "" || rep.Stats.VMTimeline != nil {
		t.Errorf("hull-vm did not run but is reported:\n%s", out)
	}
}

// TestTemplateOffBundleBadConfig: a bundle the copy cannot be made of
// fails the benchmark before anything runs.
func TestTemplateOffBundleBadConfig(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{}`, "no root object"},
		{`{"root":{"readonly":true}}`, "no root.path"},
		{`{"root":{"path":"rootfs"},"annotations":["x"]}`, "annotations"},
		{`not json`, "config.json"},
	} {
		bundle := t.TempDir()
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(tc.config), 0o644); err != nil {
			t.Fatal(err)
		}
		hull := fakeRuntime(t, t.TempDir(), "hull", 1, "")
		_, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: bundle, Runs: 1,
			VMBoot: true, vmCheck: func() string { return "" }})
		if err == nil || !strings.Contains(err.Error(), "hull-vm-boot") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: err %v, want %q", tc.config, err, tc.want)
		}
		if _, err := os.Stat(hull + ".log"); err == nil {
			t.Errorf("config %s: hull was called", tc.config)
		}
	}
}

func TestSetSandboxes(t *testing.T) {
	for _, tc := range []struct {
		list, runc string
		noRunc     bool
		want       ContainerOptions // VM, VMBoot, NoProcess, NoRunc
		err        string
	}{
		{list: DefaultSandboxes, want: ContainerOptions{VM: true, VMBoot: true}},
		{list: " vm-boot , runc", want: ContainerOptions{VMBoot: true, NoProcess: true}},
		{list: "vm,process", want: ContainerOptions{VM: true, NoRunc: true}},
		{list: "process,runc", noRunc: true, want: ContainerOptions{NoRunc: true}},
		{list: "vm,vmboot", err: `unknown "vmboot" (known: vm, vm-boot, process, runc)`},
		{list: "", err: `unknown ""`},
		{list: "vm", runc: "/bin/runc", err: "--runc given but runc is not in the list"},
	} {
		o := ContainerOptions{Runc: tc.runc, NoRunc: tc.noRunc}
		err := o.SetSandboxes(tc.list)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.list, err, tc.err)
			}
			continue
		}
		got := ContainerOptions{VM: o.VM, VMBoot: o.VMBoot, NoProcess: o.NoProcess, NoRunc: o.NoRunc}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: err %v, got %+v, want %+v", tc.list, err, got, tc.want)
		}
	}
}

// TestRunContainerVMUnusable: without KVM the vm sandbox is left out with
// one line, and the others run.
func TestRunContainerVMUnusable(t *testing.T) {
	dir := t.TempDir()
	hull := fakeRuntime(t, dir, "hull", 1, "")
	rep, err := RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, Bundle: testBundle(t), Runs: 1,
		VM: true, vmCheck: func() string { return "vm sandbox not run: no usable /dev/kvm (open /dev/kvm: no such file)" }})
	if err != nil || rep.Failures() != 0 || len(rep.VM) != 0 || len(rep.Hull) != 1 {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	out := formatted(t, rep)
	wantLines(t, out, "  hull-vm  vm sandbox not run: no usable /dev/kvm (open /dev/kvm: no such file)")
	if strings.Contains(out, "hull-vm  run") || strings.Contains(out, "hull-vm/runc") {
		t.Errorf("report:\n%s", out)
	}
	// Nothing left to run is an error.
	_, err = RunContainer(context.Background(), ContainerOptions{Hull: hull, NoRunc: true, NoProcess: true, Bundle: testBundle(t),
		VM: true, vmCheck: func() string { return "vm sandbox not run: no KVM" }})
	if err == nil || !strings.Contains(err.Error(), "no runtime to run") {
		t.Errorf("err %v", err)
	}
}
