package vsock

import (
	"encoding/json"
	"fmt"

	"github.com/hullvm/hull/virtio"
)

// Snapshot and restore. A paused device keeps serving its host sockets
// (accepting clients, reading CONNECT lines, writing out guest data it
// holds) but leaves the queues and guest memory alone. A snapshot cannot
// keep host connections: a restored device has none, and at its
// activation queues VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in the event
// buffers the driver posted before the snapshot, on which the guest
// resets its sockets and re-reads its CID. The restored device may have
// another CID and socket path (those New was given).

// stateVersion is the version of State this package writes and reads.
const stateVersion = 1

// State is what a snapshot keeps of the device: little, as connections do
// not survive.
type State struct {
	Version int
	CID     uint64 // the guest's CID at the snapshot (for the record: New's CID wins)
}

var (
	_ virtio.Stateful = (*Device)(nil)
	_ virtio.Pauser   = (*Device)(nil)
)

// Pause implements virtio.Pauser: the muxer stops touching the queues and
// gives the rx buffers it held back to the driver, empty.
func (d *Device) Pause() error {
	if !d.send(cmdPause, nil) {
		return ErrClosed
	}
	return nil
}

// Resume implements virtio.Pauser: the muxer serves the queues again,
// looking at everything the driver posted meanwhile.
func (d *Device) Resume() { d.send(cmdResume, nil) }

// SaveState implements virtio.Stateful.
func (d *Device) SaveState() ([]byte, error) {
	return json.Marshal(State{Version: stateVersion, CID: d.cid})
}

// RestoreState implements virtio.Stateful: the next activation (the
// transport's restore, when the driver was running) tells the guest that
// its connections are gone.
func (d *Device) RestoreState(b []byte) error {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("vsock: saved state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("vsock: saved state version %d, want %d", s.Version, stateVersion)
	}
	d.resetOnActivate = true
	return nil
}

// pause runs cmdPause on the muxer: from now on serve leaves the queues
// alone, and the rx chains held for host data go back to the driver empty
// so that the queue's indices match guest memory.
func (m *muxer) pause() {
	m.paused = true
	if m.ctx == nil {
		return
	}
	q := m.ctx.Queues[rxq]
	for i := range m.nHeld {
		q.PushUsed(m.rxChains[i].Head, 0)
		m.rxSignal = true
	}
	m.nHeld = 0
}

// resume runs cmdResume on the muxer: serve looks at every queue again,
// and the driver hears of the chains pause gave back.
func (m *muxer) resume() {
	m.paused = false
	if m.ctx == nil {
		return
	}
	m.d.kicked.Or(1<<rxq | 1<<txq)
	if m.rxSignal {
		m.rxSignal = false
		if err := m.ctx.Queues[rxq].Signal(); err != nil {
			m.d.setHostErr(err)
		}
	}
}
