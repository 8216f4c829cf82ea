package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Timeline event names, as package vmm records them (vmm.EventFirstKVMRun,
// vmm.EventStopped). bench reads them from the child's JSON and does not
// import vmm, so it builds and is tested without KVM code.
const (
	eventFirstKVMRun = "first KVM_RUN"
	eventStopped     = "stopped"
)

// vmReport is what `hull vm boot --timeline-json FILE` writes.
type vmReport struct {
	Reason   string `json:"reason"`
	Message  string `json:"message"`
	Timeline []struct {
		Name string `json:"name"`
		AtNS int64  `json:"at_ns"`
	} `json:"timeline"`
	// Memory is vmm.MemStats as of just before teardown; absent from hulls
	// that do not measure it.
	Memory *struct {
		VMMRSS        uint64 `json:"vmm_rss"`
		GuestResident uint64 `json:"guest_resident"`
	} `json:"memory"`
}

func readVMReport(path string) (*vmReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hull --timeline-json: %w", err)
	}
	var r vmReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("hull --timeline-json %s: %w", path, err)
	}
	return &r, nil
}

// event returns the time of the named event since the VMM process started.
func (r *vmReport) event(name string) (time.Duration, bool) {
	for _, e := range r.Timeline {
		if e.Name == name {
			return time.Duration(e.AtNS), true
		}
	}
	return 0, false
}

// span returns the time from event a to event b.
func (r *vmReport) span(a, b string) (time.Duration, error) {
	ta, ok := r.event(a)
	if !ok {
		return 0, fmt.Errorf("hull timeline has no %q event", a)
	}
	tb, ok := r.event(b)
	if !ok {
		return 0, fmt.Errorf("hull timeline has no %q event", b)
	}
	return tb - ta, nil
}
