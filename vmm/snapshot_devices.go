package vmm

import (
	"fmt"

	"github.com/hullvm/hull/devices/i8042"
	"github.com/hullvm/hull/devices/uart"
	"github.com/hullvm/hull/virtio"
)

// legacyState is the state of the port-I/O devices that have any (the
// boot timer and the test exit port have none).
type legacyState struct {
	Serial uart.State
	I8042  i8042.State
}

// virtioState is one virtio device's transport, queues and device state.
type virtioState struct {
	Name string
	MMIO virtio.MMIOState
}

func (m *machine) saveLegacy() (legacyState, error) {
	return legacyState{Serial: m.serial.State(), I8042: m.kbd.State()}, nil
}

func (m *machine) restoreLegacy(s legacyState) error {
	if err := m.serial.SetState(s.Serial); err != nil {
		return fmt.Errorf("serial: %w", err)
	}
	if err := m.kbd.SetState(s.I8042); err != nil {
		return fmt.Errorf("i8042: %w", err)
	}
	return nil
}
