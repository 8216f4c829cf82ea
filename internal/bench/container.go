package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/runtime"
)

// Container benchmark defaults.
const (
	DefaultRunc             = "runc"
	DefaultBusybox          = "busybox"
	DefaultContainerTimeout = 60 * time.Second // per runtime call, and for the whole wait phase
	DefaultContainerRuns    = 20
)

// Container benchmark modes.
const (
	// ContainerModeRun times one `run` per container: create, start, wait
	// for the process, delete, in one runtime process.
	ContainerModeRun = "run"
	// ContainerModeLifecycle times separate `create`, `start`, `state`
	// (polled until "stopped") and `delete` processes, as a container
	// manager without a shim drives a runtime.
	ContainerModeLifecycle = "lifecycle"
)

// Phases of a container run, in the order they are reported.
const (
	PhaseRun    = "run"    // mode run: spawn → exit of `run`
	PhaseCreate = "create" // spawn → exit of `create`
	PhaseStart  = "start"  // spawn → exit of `start`
	PhaseWait   = "wait"   // start's exit → exit of the `state` call that says "stopped"
	PhaseDelete = "delete" // spawn → exit of `delete`
	PhaseTotal  = "total"  // create's spawn → delete's exit
	PhaseState  = "state"  // the first `state` call after start, alone: a runtime process that only reads
)

// ContainerPhases are the phases a mode reports, in order. The headline,
// whose ratio is the benchmark's, is run in run mode and total in
// lifecycle mode.
func ContainerPhases(mode string) []string {
	if mode == ContainerModeLifecycle {
		return []string{PhaseCreate, PhaseStart, PhaseWait, PhaseDelete, PhaseTotal, PhaseState}
	}
	return []string{PhaseRun}
}

// headlinePhase is the phase whose hull/runc ratio is the benchmark's.
func headlinePhase(mode string) string {
	if mode == ContainerModeLifecycle {
		return PhaseTotal
	}
	return PhaseRun
}

// ContainerOptions configures RunContainer. Zero values take the defaults
// above (Runs 20, Warmup 0, Mode run).
type ContainerOptions struct {
	Hull   string // the hull executable; each call is `Hull --root R --sandbox=process VERB ...`
	Runc   string // runc executable; "" looks up DefaultRunc in PATH
	NoRunc bool   // hull alone
	// VM adds hull's vm sandbox (container_vm.go) where it can run here,
	// its VMs restored from a template; VMBoot adds it again as
	// hull-vm-boot, each VM booted (a copy of the bundle with
	// hull.vm.template=false). NoProcess leaves out the process sandbox.
	// SetSandboxes sets them from a list.
	VM        bool
	VMBoot    bool
	NoProcess bool
	vmCheck   func() string // why the vm sandbox cannot run, "" if it can; nil: vmUsable

	// Bundle is the OCI bundle both runtimes run; "" builds a temporary one
	// with BusyboxBundle from Busybox ("" looks up DefaultBusybox in PATH)
	// running `true`.
	Bundle  string
	Busybox string

	Mode    string        // ContainerModeRun or ContainerModeLifecycle
	Runs    int           // measured containers of each runtime, alternating
	Warmup  int           // unmeasured containers of each before them
	Timeout time.Duration // per runtime call, and for the wait phase as a whole

	Progress io.Writer // one line per container; nil: silent
}

func (o *ContainerOptions) defaults() {
	if o.Mode == "" {
		o.Mode = ContainerModeRun
	}
	if o.Runs <= 0 {
		o.Runs = DefaultContainerRuns
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultContainerTimeout
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// DefaultSandboxes is what `hull bench container` runs unless told: see
// SetSandboxes.
const DefaultSandboxes = "vm,vm-boot,process,runc"

// SetSandboxes sets what runs from a comma-separated list of vm (hull's
// vm sandbox, VMs restored from a template), vm-boot (the same, each VM
// booted), process (hull's process sandbox) and runc.
func (o *ContainerOptions) SetSandboxes(list string) error {
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		switch name = strings.TrimSpace(name); name {
		case "vm", "vm-boot", "process", "runc":
			seen[name] = true
		default:
			return fmt.Errorf("unknown %q (known: vm, vm-boot, process, runc)", name)
		}
	}
	if !seen["runc"] && o.Runc != "" {
		return errors.New("--runc given but runc is not in the list")
	}
	o.VM, o.VMBoot, o.NoProcess = seen["vm"], seen["vm-boot"], !seen["process"]
	o.NoRunc = o.NoRunc || !seen["runc"]
	return nil
}

// ContainerRun is one container of one runtime. Phases not measured (the
// other mode's, or those after a failure) are 0.
type ContainerRun struct {
	Runtime  string `json:"runtime"` // "hull" (process sandbox), "hull-vm", "hull-vm-boot" or "runc"
	Run      int    `json:"run"`     // 1-based; warm-up runs are not kept
	ID       string `json:"id"`
	OK       bool   `json:"ok"`
	Failure  string `json:"failure,omitempty"`
	ExitCode int    `json:"exit_code"` // of the call that failed, or of `run` (the container's status)

	RunCall time.Duration `json:"run_ns,omitempty"`
	Create  time.Duration `json:"create_ns,omitempty"`
	Start   time.Duration `json:"start_ns,omitempty"`
	Wait    time.Duration `json:"wait_ns,omitempty"`
	Delete  time.Duration `json:"delete_ns,omitempty"`
	Total   time.Duration `json:"total_ns,omitempty"`
	State   time.Duration `json:"state_ns,omitempty"`
	// StateCalls is how many `state` calls the wait phase made.
	StateCalls int `json:"state_calls,omitempty"`

	Tail string `json:"output_tail,omitempty"` // failures only: the failed call's stdout and stderr

	// VMPhases is a vm-sandbox container's timeline from --log.
	VMPhases []runtime.VMPhase `json:"vm_phases,omitempty"`
}

func (r *ContainerRun) phase(name string) time.Duration {
	switch name {
	case PhaseRun:
		return r.RunCall
	case PhaseCreate:
		return r.Create
	case PhaseStart:
		return r.Start
	case PhaseWait:
		return r.Wait
	case PhaseDelete:
		return r.Delete
	case PhaseTotal:
		return r.Total
	case PhaseState:
		return r.State
	}
	return 0
}

// ContainerReport is the outcome of RunContainer.
type ContainerReport struct {
	Mode        string         `json:"mode"`
	Bundle      string         `json:"bundle"`
	BundleNote  string         `json:"bundle_note,omitempty"` // what the built bundle is; "" for --bundle
	Runs        int            `json:"runs"`
	Warmup      int            `json:"warmup"`
	HullArgv    string         `json:"hull_argv"`              // hull's argv before the verb, --root elided
	Runc        string         `json:"runc,omitempty"`         // the runc that ran, "" when none
	RuncVersion string         `json:"runc_version,omitempty"` // first line of `runc --version`
	RuncNote    string         `json:"runc_note,omitempty"`    // why runc did not run
	VMArgv      string         `json:"vm_argv,omitempty"`      // the vm sandbox's argv before the verb
	VMBootArgv  string         `json:"vm_boot_argv,omitempty"` // hull-vm-boot's, the same when it ran
	VMNote      string         `json:"vm_note,omitempty"`      // why the vm sandbox did not run
	Hull        []ContainerRun `json:"hull"`
	RuncRuns    []ContainerRun `json:"runc_runs,omitempty"`
	VM          []ContainerRun `json:"vm,omitempty"`
	VMBoot      []ContainerRun `json:"vm_boot,omitempty"`
	Stats       ContainerStats `json:"stats"`
}

// ContainerStats summarizes the successful runs, phase by phase.
type ContainerStats struct {
	Phases []ContainerPhase `json:"phases"`
	// Ratio is hull / runc of the headline phase's P50 (run, or total in
	// lifecycle mode); 0 without both.
	Ratio float64 `json:"ratio_p50"`
	// The wait phase's `state` calls per run (lifecycle mode).
	HullStateCalls Summary[float64] `json:"hull_state_calls"`
	RuncStateCalls Summary[float64] `json:"runc_state_calls"`
	// VMRatio is hull-vm / runc of the headline phase's P50, VMBootRatio
	// hull-vm-boot's.
	VMRatio        float64           `json:"vm_ratio_p50,omitempty"`
	VMTimeline     []VMTimelinePhase `json:"vm_timeline,omitempty"`
	VMBootRatio    float64           `json:"vm_boot_ratio_p50,omitempty"`
	VMBootTimeline []VMTimelinePhase `json:"vm_boot_timeline,omitempty"`
}

// ContainerPhase is one phase's figures for both runtimes.
type ContainerPhase struct {
	Phase string                 `json:"phase"`
	Hull  Summary[time.Duration] `json:"hull_ns"`
	Runc  Summary[time.Duration] `json:"runc_ns"`
	Ratio float64                `json:"ratio_p50"` // hull / runc P50; 0 without both
	VM    Summary[time.Duration] `json:"vm_ns"`
	// VMRatio is hull-vm / runc P50; 0 without both.
	VMRatio float64                `json:"vm_ratio_p50,omitempty"`
	VMBoot  Summary[time.Duration] `json:"vm_boot_ns"`
	// VMBootRatio is hull-vm-boot / runc P50; 0 without both.
	VMBootRatio float64 `json:"vm_boot_ratio_p50,omitempty"`
}

// runtimeCLI is one runtime as the benchmark calls it.
type runtimeCLI struct {
	name     string
	argv     []string // executable and global flags, --root included
	bundle   string   // the bundle it runs
	tmp      string   // where each call's stdout and stderr files go
	phaseLog string   // the vm sandbox's --log, read for each container's timeline
}

// RunContainer creates, starts, waits for and deletes Warmup+Runs
// containers from the bundle under hull (process sandbox, and with VM and
// VMBoot the vm sandbox) and under runc, each runtime going first in turn,
// each with a private --root (the vm sandbox's two share one), and
// summarizes the runs whose calls all succeeded. An error means the
// benchmark could not run (or ctx ended); failed runs are in the report.
func RunContainer(ctx context.Context, o ContainerOptions) (*ContainerReport, error) {
	o.defaults()
	if o.Hull == "" {
		return nil, errors.New("bench container: the hull executable is required")
	}
	if o.Mode != ContainerModeRun && o.Mode != ContainerModeLifecycle {
		return nil, fmt.Errorf("bench container: unknown mode %q (known: %s, %s)", o.Mode, ContainerModeRun, ContainerModeLifecycle)
	}
	rep := &ContainerReport{Mode: o.Mode, Runs: o.Runs, Warmup: o.Warmup}
	var err error
	if rep.Runc, rep.RuncNote, err = baseline("bench container", "runc", o.Runc, DefaultRunc, o.NoRunc); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "hull-bench-container-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	if o.Bundle == "" {
		bb := o.Busybox
		if bb == "" {
			bb = DefaultBusybox
		}
		p, err := exec.LookPath(bb)
		if err != nil {
			return nil, fmt.Errorf("bench container: no --bundle, and no busybox to build one: %w", err)
		}
		rep.Bundle = filepath.Join(tmp, "bundle")
		if err := BusyboxBundle(rep.Bundle, p, "true"); err != nil {
			return nil, fmt.Errorf("bench container: %w", err)
		}
		rep.BundleNote = fmt.Sprintf("built from %s: `true`, pid/mount/ipc/uts namespaces, /proc", p)
	} else {
		abs, err := filepath.Abs(o.Bundle)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(abs, "config.json")); err != nil {
			return nil, fmt.Errorf("bench container: --bundle: %w", err)
		}
		rep.Bundle = abs
	}

	var names []string
	if !o.NoProcess {
		names = append(names, RuntimeHull)
	}
	if rep.Runc != "" {
		names = append(names, RuntimeRunc)
	}
	if o.VM || o.VMBoot {
		check := o.vmCheck
		if check == nil {
			check = vmUsable
		}
		if rep.VMNote = check(); rep.VMNote == "" && o.VM {
			names = append(names, RuntimeHullVM)
		}
		if rep.VMNote == "" && o.VMBoot {
			names = append(names, RuntimeHullVMBoot)
		}
	}
	if len(names) == 0 {
		return nil, errors.New("bench container: no runtime to run")
	}
	runtimes := map[string]*runtimeCLI{}
	for _, name := range names {
		rt := &runtimeCLI{name: name, tmp: filepath.Join(tmp, name+"-out")}
		root := filepath.Join(tmp, name+"-root")
		switch name {
		case RuntimeHull:
			rt.argv = []string{o.Hull, "--root", root, "--sandbox=process"}
			rep.HullArgv = o.Hull + " --root ROOT --sandbox=process"
		case RuntimeHullVM, RuntimeHullVMBoot:
			// One short root for both: the VMs' Unix sockets (and the
			// templates' under <root>/.templates) must fit in sun_path.
			root = filepath.Join(tmp, "vm")
			rt = vmRuntime(name, o.Hull, root, tmp)
			*rep.vmArgv(name) = o.Hull + " --root ROOT --sandbox=vm --debug --log LOG --log-format json"
		default:
			rt.argv = []string{rep.Runc, "--root", root}
			rep.RuncVersion = runcVersion(ctx, rep.Runc)
		}
		rt.bundle = rep.Bundle
		if name == RuntimeHullVMBoot {
			rt.bundle = filepath.Join(tmp, "vm-boot-bundle")
			if err := templateOffBundle(rep.Bundle, rt.bundle); err != nil {
				return nil, fmt.Errorf("bench container: %s: %w", name, err)
			}
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, err
		}
		if err := os.Mkdir(rt.tmp, 0o700); err != nil {
			return nil, err
		}
		runtimes[name] = rt
	}

	for i := 0; i < o.Warmup+o.Runs; i++ {
		for _, name := range rotate(names, i) {
			rt := runtimes[name]
			if rt == nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				rep.summarize()
				return rep, err
			}
			id := fmt.Sprintf("hull-bench-%d-%s-%d", os.Getpid(), name, i)
			var r ContainerRun
			if o.Mode == ContainerModeLifecycle {
				r = lifecycleRun(ctx, rt, id, o.Timeout)
			} else {
				r = runRun(ctx, rt, id, o.Timeout)
			}
			r.Runtime, r.ID = name, id
			r.VMPhases = rt.phases(id)
			if !r.OK {
				rt.forceDelete(id) // whatever the failed run left behind
			}
			label := "warm-up"
			if i >= o.Warmup {
				r.Run = i - o.Warmup + 1
				label = fmt.Sprintf("run %d/%d", r.Run, o.Runs)
				runs := rep.runsOf(name)
				*runs = append(*runs, r)
			}
			fmt.Fprintf(o.Progress, "bench container: %s %-12s %s\n", label, name, r.progress())
		}
	}
	rep.summarize()
	return rep, nil
}

// runRun times one `run --bundle B ID`, which must exit 0.
func runRun(ctx context.Context, rt *runtimeCLI, id string, timeout time.Duration) ContainerRun {
	var r ContainerRun
	c := rt.call(ctx, timeout, "run", "--bundle", rt.bundle, id)
	r.RunCall, r.ExitCode = c.dur, c.exitCode
	if c.failed() {
		r.Failure, r.Tail = "run: "+c.why(), c.output()
		return r
	}
	r.OK = true
	return r
}

// lifecycleRun times create, start, state until stopped, and delete, each
// a separate runtime process, as containerd's shim or runtime-tools drive a
// runtime (without the shim's child-reaper shortcut for the wait).
func lifecycleRun(ctx context.Context, rt *runtimeCLI, id string, timeout time.Duration) ContainerRun {
	var r ContainerRun
	fail := func(phase string, c callResult) ContainerRun {
		r.Failure, r.ExitCode, r.Tail = phase+": "+c.why(), c.exitCode, c.output()
		return r
	}
	t0 := time.Now()
	c := rt.call(ctx, timeout, "create", "--bundle", rt.bundle, id)
	if r.Create = c.dur; c.failed() {
		return fail(PhaseCreate, c)
	}
	c = rt.call(ctx, timeout, "start", id)
	if r.Start = c.dur; c.failed() {
		return fail(PhaseStart, c)
	}
	started := time.Now()
	deadline := started.Add(timeout)
	for {
		c = rt.call(ctx, timeout, "state", id)
		r.StateCalls++
		if r.StateCalls == 1 {
			r.State = c.dur
		}
		if c.failed() {
			return fail(PhaseWait, c)
		}
		var s specs.State
		if err := json.Unmarshal(c.stdout, &s); err != nil {
			c.err = fmt.Errorf("state printed no JSON state: %v", err)
			return fail(PhaseWait, c)
		}
		if s.Status == specs.StateStopped {
			break
		}
		if s.Status != specs.StateCreated && s.Status != specs.StateRunning {
			c.err = fmt.Errorf("state says %q after start", s.Status)
			return fail(PhaseWait, c)
		}
		if time.Now().After(deadline) {
			c.err = fmt.Errorf("still %s %v after start", s.Status, timeout)
			return fail(PhaseWait, c)
		}
		if err := ctx.Err(); err != nil {
			c.err = fmt.Errorf("stopped: %w", err)
			return fail(PhaseWait, c)
		}
	}
	r.Wait = time.Since(started)
	c = rt.call(ctx, timeout, "delete", id)
	if r.Delete = c.dur; c.failed() {
		return fail(PhaseDelete, c)
	}
	r.Total = time.Since(t0)
	r.ExitCode, r.OK = 0, true
	return r
}

func (rep *ContainerReport) summarize() {
	s := &rep.Stats
	s.Phases, s.Ratio = nil, 0
	head := headlinePhase(rep.Mode)
	for _, ph := range ContainerPhases(rep.Mode) {
		p := ContainerPhase{Phase: ph, Hull: summarizePhase(rep.Hull, ph), Runc: summarizePhase(rep.RuncRuns, ph)}
		p.Ratio = ratioP50(p.Hull, p.Runc)
		if ph == head {
			s.Ratio = p.Ratio
		}
		for _, v := range rep.vmRows() {
			sum, ratio := v.phase(&p)
			*sum = summarizePhase(v.runs, ph)
			*ratio = ratioP50(*sum, p.Runc)
			if ph == head {
				*v.ratio = *ratio
			}
		}
		s.Phases = append(s.Phases, p)
	}
	s.HullStateCalls, s.RuncStateCalls = summarizeStateCalls(rep.Hull), summarizeStateCalls(rep.RuncRuns)
	for _, v := range rep.vmRows() {
		*v.timeline = summarizeVMTimeline(v.runs)
	}
}

// ratioP50 is a's P50 over runc's b; 0 without both.
func ratioP50(a, b Summary[time.Duration]) float64 {
	if a.N == 0 || b.N == 0 || b.P50 <= 0 {
		return 0
	}
	return float64(a.P50) / float64(b.P50)
}

// runsOf is where the runs of runtime name go.
func (rep *ContainerReport) runsOf(name string) *[]ContainerRun {
	switch name {
	case RuntimeHull:
		return &rep.Hull
	case RuntimeHullVM:
		return &rep.VM
	case RuntimeHullVMBoot:
		return &rep.VMBoot
	}
	return &rep.RuncRuns
}

func summarizePhase(runs []ContainerRun, phase string) Summary[time.Duration] {
	var xs []time.Duration
	for i := range runs {
		if runs[i].OK {
			xs = append(xs, runs[i].phase(phase))
		}
	}
	return Summarize(xs)
}

func summarizeStateCalls(runs []ContainerRun) Summary[float64] {
	var xs []float64
	for _, r := range runs {
		if r.OK && r.StateCalls > 0 {
			xs = append(xs, float64(r.StateCalls))
		}
	}
	return Summarize(xs)
}
