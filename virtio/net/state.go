package net

import (
	"encoding/json"
	"fmt"

	"github.com/hullvm/hull/virtio"
)

// stateVersion is the version of State this package writes and reads.
const stateVersion = 1

// State is what a snapshot keeps of a network device besides its
// transport's state: the MAC address the guest's driver read. The backend
// is not in it: a restored VM gets a new TAP (or any backend), whose
// offloads must cover what the driver accepted (the transport checks).
type State struct {
	Version int
	MAC     MAC // text form in JSON, checked on the way in
}

var (
	_ virtio.Stateful = (*Device)(nil)
	_ virtio.Pauser   = (*Device)(nil)
)

// SaveState implements virtio.Stateful. A frame the paused receiver held
// is not kept: the restored guest never sees it, as if the wire had
// dropped it.
func (d *Device) SaveState() ([]byte, error) {
	return json.Marshal(State{Version: stateVersion, MAC: d.MAC()})
}

// RestoreState implements virtio.Stateful: the device takes the saved MAC
// address, the one the guest's driver uses, whatever New was given.
func (d *Device) RestoreState(b []byte) error {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("net: saved state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("net: saved state version %d, want %d", s.Version, stateVersion)
	}
	if err := s.MAC.Check(); err != nil {
		return fmt.Errorf("net: saved state: %w", err)
	}
	copy(d.config[cfgMAC:], s.MAC[:])
	return nil
}
