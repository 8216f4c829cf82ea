package vmsandbox

import (
	"flag"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmm"
)

// timeline collects the container's start-latency phases
// (runtime/vmtimeline.go). Up to the create report they are kept and sent
// with it (create logs them); after it, each is logged to the runtime's
// --log as it happens, when create passed one.
type timeline struct {
	id    string
	t0    time.Time // when `hull create` began: the timeline's zero
	start time.Time // this process's start (the vmm timeline's zero)
	log   *slog.Logger

	mu       sync.Mutex
	phases   []runtime.VMPhase
	reported bool
}

// timelineFlags registers the VMM process's timeline and log flags
// (runtime.vmSandbox.vmmArgs); call the result after parsing.
func timelineFlags(fs *flag.FlagSet) func(id string, start time.Time) *timeline {
	t0 := fs.Int64("t0", 0, "the timeline's zero: when hull create began (Unix ns)")
	var lo runtime.LogOptions
	fs.StringVar(&lo.File, "log", "", "the runtime's --log")
	fs.StringVar(&lo.Format, "log-format", "", "the runtime's --log-format")
	fs.BoolVar(&lo.Debug, "debug", false, "the runtime's --debug")
	return func(id string, start time.Time) *timeline {
		t := &timeline{id: id, t0: start, start: start}
		if *t0 > 0 {
			t.t0 = time.Unix(0, *t0)
		}
		if lo.File != "" {
			t.log = lo.Logger()
		}
		t.add(runtime.PhaseVMMProcess, start)
		return t
	}
}

// mark records phase name now.
func (t *timeline) mark(name string) { t.add(name, time.Now()) }

func (t *timeline) add(name string, at time.Time) {
	p := runtime.VMPhase{Name: name, At: at.Sub(t.t0)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reported {
		if t.log != nil {
			runtime.LogVMPhase(t.log, t.id, p)
		}
		return
	}
	t.phases = append(t.phases, p)
}

// report returns the phases so far for the create report, with the VM's
// own boot events (vmm.Timeline: first KVM_RUN, boot timer, guest ready)
// merged in, in time order; the phases after it are logged directly.
func (t *timeline) report(vm *vmm.VM) []runtime.VMPhase {
	var boot vmm.Timeline
	if vm != nil {
		boot = vm.Timeline()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reported = true
	out := append([]runtime.VMPhase(nil), t.phases...)
	for _, e := range boot {
		if e.Name == vmm.EventProcessStart {
			continue // runtime.PhaseVMMProcess
		}
		out = append(out, runtime.VMPhase{Name: e.Name, At: t.start.Add(e.At).Sub(t.t0)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}
