package virtiotest

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
)

// Snapshot pauses the transport and returns its saved state, after a
// round trip through encoding/gob (what a snapshot file holds). It fails
// the test on an error.
func (d *Driver) Snapshot() virtio.MMIOState {
	d.T.Helper()
	if err := d.MMIO.Pause(); err != nil {
		d.T.Fatalf("Pause: %v", err)
	}
	st, err := d.MMIO.SaveState()
	if err != nil {
		d.T.Fatalf("SaveState: %v", err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		d.T.Fatalf("gob-encoding the state: %v", err)
	}
	var out virtio.MMIOState
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		d.T.Fatalf("gob-decoding the state: %v", err)
	}
	return out
}

// Clone returns a driver over a copy of d's guest memory with dev behind
// a new transport and a new interrupt, as a VMM restoring a snapshot
// builds them: nothing is shared with d. The driver-side state (negotiated
// features, the allocator) carries over; queues move with Queue.On. The
// transport is not restored yet (RestoreState, or Restore).
func (d *Driver) Clone(t testing.TB, dev virtio.Device, opts Options) *Driver {
	t.Helper()
	var ranges []guestmem.Range
	for _, r := range d.Mem.Regions() {
		ranges = append(ranges, guestmem.Range{Base: r.Base, Size: uint64(len(r.Host))})
	}
	mem, err := guestmem.NewBytes(ranges...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range mem.Regions() {
		copy(r.Host, d.Mem.Regions()[i].Host)
	}
	n := newDriver(t, dev, mem, opts)
	n.Features = d.Features
	n.Timeout = d.Timeout
	n.next = d.AllocMark()
	return n
}

// Restore is Clone followed by the new transport's RestoreState(st); it
// fails the test on an error. The transport stays paused until Resume.
func (d *Driver) Restore(t testing.TB, dev virtio.Device, st virtio.MMIOState, opts Options) *Driver {
	t.Helper()
	n := d.Clone(t, dev, opts)
	if err := n.MMIO.RestoreState(st); err != nil {
		t.Fatalf("RestoreState: %v", err)
	}
	return n
}

// Resume resumes the transport, failing the test on an error.
func (d *Driver) Resume() {
	d.T.Helper()
	if err := d.MMIO.Resume(); err != nil {
		d.T.Fatalf("Resume: %v", err)
	}
}

// On returns a copy of the queue's driver-side state (posted chains, the
// indices it published and consumed) for driver n, a Clone of the queue's
// driver.
func (q *Queue) On(n *Driver) *Queue {
	c := *q
	c.d = n
	c.free = append([]uint16(nil), q.free...)
	c.chains = make([][]uint16, len(q.chains))
	for i, ids := range q.chains {
		c.chains[i] = append([]uint16(nil), ids...)
	}
	return &c
}
