package blk

import (
	"encoding/json"
	"fmt"

	"github.com/hullvm/hull/virtio"
)

// stateVersion is the version of State this package writes and reads.
const stateVersion = 1

// State is what a snapshot keeps of a disk besides its transport's state:
// what the guest's driver learnt of it. The file itself is not in it: a
// restored VM may use another file (a copy of the disk as it was at the
// snapshot), which must have the same size.
type State struct {
	Version  int
	Capacity uint64 // in 512-byte sectors
	ReadOnly bool
	ID       string // the GET_ID string the guest may have read
}

var _ virtio.Stateful = (*Device)(nil)

// SaveState implements virtio.Stateful. Requests complete within Kick, so
// a paused transport leaves none in flight.
func (d *Device) SaveState() ([]byte, error) {
	return json.Marshal(State{Version: stateVersion, Capacity: d.capacity, ReadOnly: d.ro, ID: string(trimID(d.id[:]))})
}

// RestoreState implements virtio.Stateful: the disk must have the size
// and mode the guest knows; the guest keeps seeing the saved GET_ID
// string.
func (d *Device) RestoreState(b []byte) error {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("blk: saved state: %w", err)
	}
	switch {
	case s.Version != stateVersion:
		return fmt.Errorf("blk: saved state version %d, want %d", s.Version, stateVersion)
	case len(s.ID) > VIRTIO_BLK_ID_BYTES:
		return fmt.Errorf("blk: saved ID of %d bytes, at most %d", len(s.ID), VIRTIO_BLK_ID_BYTES)
	case s.Capacity != d.capacity:
		return fmt.Errorf("blk: %s has %d sectors, the snapshot's disk had %d", d.path, d.capacity, s.Capacity)
	case s.ReadOnly != d.ro:
		return fmt.Errorf("blk: %s is opened read-only=%v, the snapshot's disk was read-only=%v", d.path, d.ro, s.ReadOnly)
	}
	d.id = [VIRTIO_BLK_ID_BYTES]byte{}
	copy(d.id[:], s.ID)
	return nil
}

// trimID drops the NUL padding of a GET_ID string.
func trimID(id []byte) []byte {
	for i, c := range id {
		if c == 0 {
			return id[:i]
		}
	}
	return id
}
