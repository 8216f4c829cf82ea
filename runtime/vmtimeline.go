package runtime

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"
)

// The start-latency timeline of a vm-sandbox container, at level debug in
// the runtime's log (--debug --log FILE): one record per phase,
//
//	{"level":"debug","msg":"vm phase","id":"c1","phase":"agent ready","ms":2412.733}
//
// ms counts from the moment `hull create` began. The VMM process reports
// the phases up to "container created" to create (VMReport.Phases), which
// logs them; `hull start` logs "container started" once the agent has
// started the process (which may have exited by then); the VMM process
// logs "container exited" and "vm stopped" itself, to the same file.

// VMPhaseMsg is the message of every timeline record; the attributes are
// VMPhaseID, VMPhaseName and VMPhaseMS.
const (
	VMPhaseMsg  = "vm phase"
	VMPhaseID   = "id"
	VMPhaseName = "phase"
	VMPhaseMS   = "ms"
)

// The phases, in the order they happen. The vmm package's boot events
// (first KVM_RUN, boot timer, guest ready) come between PhaseVMMStart and
// PhaseAgentReady under their own names.
const (
	PhaseVMMProcess       = "vmm process start"
	PhaseRestored         = "restored from template" // instead of a boot (vmsandbox/template.go)
	PhaseVMMStart         = "vmm started"
	PhaseAgentReady       = "agent ready"
	PhaseContainerCreated = "container created"
	PhaseContainerStarted = "container started"
	PhaseContainerExited  = "container exited"
	PhaseVMStopped        = "vm stopped"
)

// VMPhase is one point of the timeline.
type VMPhase struct {
	Name string        `json:"name"`
	At   time.Duration `json:"at_ns"` // since `hull create` began
}

// LogVMPhase writes one timeline record at level debug.
func LogVMPhase(l *slog.Logger, id string, p VMPhase) {
	l.Debug(VMPhaseMsg, VMPhaseID, id, VMPhaseName, p.Name, VMPhaseMS, math.Round(float64(p.At)/1e3)/1e3)
}

// ParseVMPhases reads the timeline records of a JSON-format log (other
// lines are skipped) and returns each container's phases in file order.
func ParseVMPhases(r io.Reader) (map[string][]VMPhase, error) {
	out := map[string][]VMPhase{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg   string   `json:"msg"`
			ID    string   `json:"id"`
			Phase string   `json:"phase"`
			MS    *float64 `json:"ms"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != VMPhaseMsg || rec.Phase == "" || rec.MS == nil {
			continue
		}
		out[rec.ID] = append(out[rec.ID], VMPhase{Name: rec.Phase, At: time.Duration(*rec.MS * 1e6)})
	}
	return out, sc.Err()
}

// vmmArgs are the VMM process's flags beyond id, dir and bundle: the
// timeline's zero (--t0, Unix nanoseconds) and the runtime's log flags.
func (v *vmSandbox) vmmArgs(req *CreateRequest) []string {
	t0 := req.Created
	if t0.IsZero() {
		t0 = time.Now()
	}
	return append([]string{"--t0", strconv.FormatInt(t0.UnixNano(), 10)}, v.logOpts.args()...)
}

// logPhases logs the timeline the VMM process reported.
func (v *vmSandbox) logPhases(id string, ps []VMPhase) {
	if v.log == nil {
		return
	}
	for _, p := range ps {
		LogVMPhase(v.log, id, p)
	}
}
