package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/runtime"
)

// hull's vm sandbox in the container benchmark: each container in its
// own microVM, the runtime called as
//
//	hull --root ROOT --sandbox=vm --debug --log LOG --log-format json VERB ...
//
// so that every container's start-latency timeline (runtime/vmtimeline.go)
// lands in LOG; each run keeps its own phases, and the report gives their
// P50/min/max beside the run's. It runs as two rows that share one --root
// (so one templates directory): hull-vm runs the bundle, its VMs restored
// from the template that its first container makes, and hull-vm-boot a
// copy of the bundle with hull.vm.template=false, each VM booted.

// Runtime names in the container benchmark.
const (
	RuntimeHull       = "hull"         // the process sandbox
	RuntimeHullVM     = "hull-vm"      // the vm sandbox, VMs restored from a template
	RuntimeHullVMBoot = "hull-vm-boot" // the vm sandbox, each VM booted
	RuntimeRunc       = "runc"
)

// VMTimelinePhases are the vm sandbox's phases the report summarizes,
// each counted from the moment create began.
var VMTimelinePhases = []string{
	"first KVM_RUN", runtime.PhaseAgentReady, runtime.PhaseContainerCreated,
	runtime.PhaseContainerStarted, runtime.PhaseContainerExited,
}

// VMTimelinePhase is one timeline phase's figures over the vm runs.
type VMTimelinePhase struct {
	Phase string                 `json:"phase"`
	VM    Summary[time.Duration] `json:"vm_ns"` // since create began
}

// vmUsable says why the vm sandbox cannot run here ("" when it can): no
// usable /dev/kvm, or no default guest image.
func vmUsable() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Sprintf("vm sandbox not run: no usable /dev/kvm (%v)", err)
	}
	f.Close()
	if _, _, err := guestimage.Default(); err != nil {
		return fmt.Sprintf("vm sandbox not run: %v", err)
	}
	return ""
}

// vmRuntime is the vm sandbox's runtimeCLI for row name, logging to a
// file in tmp.
func vmRuntime(name, hull, root, tmp string) *runtimeCLI {
	log := filepath.Join(tmp, name+"-log.json")
	return &runtimeCLI{name: name, tmp: filepath.Join(tmp, name+"-out"), phaseLog: log,
		argv: []string{hull, "--root", root, "--sandbox=vm", "--debug", "--log", log, "--log-format", "json"}}
}

// templateOffBundle writes to dir (created) a bundle whose config.json is
// src's with the annotation hull.vm.template=false and root.path made
// absolute: the same rootfs, not a copy. Other fields are kept as they are.
func templateOffBundle(src, dir string) error {
	b, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s/config.json: %w", src, err)
	}
	var root map[string]any
	if err := json.Unmarshal(spec["root"], &root); err != nil || root == nil {
		return fmt.Errorf("%s/config.json: no root object", src)
	}
	path, ok := root["path"].(string)
	if !ok || path == "" {
		return fmt.Errorf("%s/config.json: no root.path", src)
	}
	if !filepath.IsAbs(path) {
		root["path"] = filepath.Join(src, path)
	}
	ann := map[string]string{}
	if a, ok := spec["annotations"]; ok {
		if err := json.Unmarshal(a, &ann); err != nil {
			return fmt.Errorf("%s/config.json: annotations: %w", src, err)
		}
		if ann == nil {
			ann = map[string]string{}
		}
	}
	ann[runtime.AnnotationVMTemplate] = "false"
	for k, v := range map[string]any{"root": root, "annotations": ann} {
		if spec[k], err = json.Marshal(v); err != nil {
			return err
		}
	}
	if b, err = json.MarshalIndent(spec, "", "  "); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644)
}

// vmRow is one of the vm sandbox's rows of the report and where its
// figures go.
type vmRow struct {
	name     string
	argv     string // "" when it did not run
	runs     []ContainerRun
	ratio    *float64 // of the headline phase
	timeline *[]VMTimelinePhase
	// phase is its summary and ratio in one phase's figures.
	phase func(*ContainerPhase) (*Summary[time.Duration], *float64)
}

func (rep *ContainerReport) vmRows() []vmRow {
	s := &rep.Stats
	return []vmRow{
		{RuntimeHullVM, rep.VMArgv, rep.VM, &s.VMRatio, &s.VMTimeline,
			func(p *ContainerPhase) (*Summary[time.Duration], *float64) { return &p.VM, &p.VMRatio }},
		{RuntimeHullVMBoot, rep.VMBootArgv, rep.VMBoot, &s.VMBootRatio, &s.VMBootTimeline,
			func(p *ContainerPhase) (*Summary[time.Duration], *float64) { return &p.VMBoot, &p.VMBootRatio }},
	}
}

// vmArgv is where row name's argv goes in the report.
func (rep *ContainerReport) vmArgv(name string) *string {
	if name == RuntimeHullVMBoot {
		return &rep.VMBootArgv
	}
	return &rep.VMArgv
}

// phases returns container id's timeline from the runtime's log; nil
// for a runtime without one.
func (rt *runtimeCLI) phases(id string) []runtime.VMPhase {
	if rt.phaseLog == "" {
		return nil
	}
	f, err := os.Open(rt.phaseLog)
	if err != nil {
		return nil
	}
	defer f.Close()
	all, _ := runtime.ParseVMPhases(f) // a torn last line is skipped
	return all[id]
}

func vmPhase(r *ContainerRun, name string) (time.Duration, bool) {
	for _, p := range r.VMPhases {
		if p.Name == name {
			return p.At, true
		}
	}
	return 0, false
}

func summarizeVMTimeline(runs []ContainerRun) []VMTimelinePhase {
	if len(runs) == 0 {
		return nil
	}
	var out []VMTimelinePhase
	for _, name := range VMTimelinePhases {
		var xs []time.Duration
		for i := range runs {
			if at, ok := vmPhase(&runs[i], name); ok && runs[i].OK {
				xs = append(xs, at)
			}
		}
		out = append(out, VMTimelinePhase{Phase: name, VM: Summarize(xs)})
	}
	return out
}

// rotate returns names starting at index i mod len(names): the order of
// one round, so that each runtime goes first in turn.
func rotate(names []string, i int) []string {
	if len(names) == 0 {
		return nil
	}
	k := i % len(names)
	return append(append([]string(nil), names[k:]...), names[:k]...)
}
