package vmm

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Event names recorded on the timeline.
const (
	EventProcessStart = "process start"
	EventVMCreated    = "vm created"
	EventFirstKVMRun  = "first KVM_RUN"
	EventFirstSerial  = "first serial byte"
	EventBootTimer    = "boot timer"
	EventReady        = "guest ready" // Config.ReadyMarker seen on the console
	EventStopped      = "stopped"
	EventRestored     = "state restored" // a restore has set every state, before the first KVM_RUN
)

// Event is one point on the timeline, relative to the process start.
type Event struct {
	Name string        `json:"name"`
	At   time.Duration `json:"at_ns"`
}

// Timeline is the ordered list of boot events.
type Timeline []Event

// Format writes one aligned line per event, in milliseconds.
func (tl Timeline) Format(w io.Writer) error {
	for _, e := range tl {
		if _, err := fmt.Fprintf(w, "  %-20s %10.3f ms\n", e.Name, float64(e.At)/float64(time.Millisecond)); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the time of the first event with that name.
func (tl Timeline) Lookup(name string) (time.Duration, bool) {
	for _, e := range tl {
		if e.Name == name {
			return e.At, true
		}
	}
	return 0, false
}

// recorder records each named event once; safe for concurrent use.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	seen  map[string]bool
	tl    Timeline
}

func newRecorder(start time.Time) *recorder {
	r := &recorder{start: start, seen: map[string]bool{}}
	r.markAt(EventProcessStart, start)
	return r
}

func (r *recorder) mark(name string) { r.markAt(name, time.Now()) }

func (r *recorder) markAt(name string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[name] {
		return
	}
	r.seen[name] = true
	r.tl = append(r.tl, Event{Name: name, At: t.Sub(r.start)})
}

func (r *recorder) timeline() Timeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(Timeline(nil), r.tl...)
}
