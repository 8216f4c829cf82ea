package p9

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hullvm/hull/virtio"
)

// Snapshot and restore. The server's fids (open files, the mount's root)
// live in this process and cannot be saved: a share with fids refuses the
// snapshot. Without fids (the guest has not mounted it, or unmounted it)
// the guest holds nothing of the share but its tag, and a restored device
// may serve another directory (the one New was given).

// stateVersion is the version of State this package writes and reads.
const stateVersion = 1

// State is what a snapshot keeps of a share.
type State struct {
	Version int
	Tag     string
}

var (
	_ virtio.Stateful = (*Device)(nil)
	_ virtio.Pauser   = (*Device)(nil)
)

// ErrInUse: a snapshot of a share the guest has fids on.
var ErrInUse = errors.New("p9: share in use")

// Pause implements virtio.Pauser: the transport stopped the request
// worker; Pause waits (up to drainTimeout) until the server answered every
// request in flight and its chain was returned.
func (d *Device) Pause() error {
	if d.sess == nil {
		return nil
	}
	return d.sess.quiesce(drainTimeout)
}

// Resume implements virtio.Pauser: nothing to do, requests arrive through
// the worker again.
func (d *Device) Resume() {}

// FIDs returns how many fids the guest holds on the share (files the
// server has not clunked).
func (d *Device) FIDs() int64 { return d.fs.nodes.Load() }

// SaveState implements virtio.Stateful: refused while the guest holds
// fids.
func (d *Device) SaveState() ([]byte, error) {
	if n := d.FIDs(); n > 0 {
		return nil, fmt.Errorf("%w: share %q has %d open fids (mounted in the guest): it cannot be snapshotted", ErrInUse, d.Tag(), n)
	}
	return json.Marshal(State{Version: stateVersion, Tag: d.Tag()})
}

// RestoreState implements virtio.Stateful: the share keeps its tag; the
// directory is the one New was given.
func (d *Device) RestoreState(b []byte) error {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("p9: saved state: %w", err)
	}
	switch {
	case s.Version != stateVersion:
		return fmt.Errorf("p9: saved state version %d, want %d", s.Version, stateVersion)
	case s.Tag != d.Tag():
		return fmt.Errorf("p9: the snapshot's share had tag %q, this one %q", s.Tag, d.Tag())
	}
	return nil
}

// quiesce waits until no request is in flight (the worker is stopped, so
// none starts): every reply written and its chain returned.
func (s *session) quiesce(timeout time.Duration) error {
	s.mu.Lock()
	n := QueueSize - len(s.free)
	if n == 0 {
		s.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	s.idle = idle
	s.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(timeout):
		return fmt.Errorf("virtio-9p share %q: %d requests still in flight after %v", s.d.Tag(), n, timeout)
	}
	// finish closed idle holding mu, and returns the chain and signals
	// before it lets go.
	s.mu.Lock()
	s.mu.Unlock() //nolint:staticcheck // an empty critical section: waiting for finish
	return nil
}
