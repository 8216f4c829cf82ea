package i8042

import "fmt"

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is the controller's guest-visible state, for a snapshot. It is
// gob-encodable; the counters and the reset callback are not in it.
type State struct {
	Version int
	CTR     byte // the command byte
	OutPort byte
	CmdDat  bool // the last byte written went to the command port (status bit 3)
	Out     byte // the output buffer
	OBF     bool // a byte waits in Out
	Pending byte // the command waiting for its data byte (0x60, 0xd1), or 0
}

// State returns the controller's state.
func (c *I8042) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return State{
		Version: StateVersion, CTR: c.ctr, OutPort: c.outPort, CmdDat: c.status&strCMDDAT != 0,
		Out: c.out, OBF: c.obf, Pending: c.pending,
	}
}

// SetState gives the controller a saved state, before the guest runs. A
// state it could never be in is refused with an error and nothing
// changes.
func (c *I8042) SetState(s State) error {
	switch {
	case s.Version != StateVersion:
		return fmt.Errorf("i8042: state version %d, want %d", s.Version, StateVersion)
	case s.Pending != 0 && s.Pending != cmdWriteCTR && s.Pending != cmdWriteOutPort:
		return fmt.Errorf("i8042: pending command %#x takes no data byte", s.Pending)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctr, c.outPort, c.out, c.obf, c.pending = s.CTR, s.OutPort, s.Out, s.OBF, s.Pending
	c.status = 0
	if s.CmdDat {
		c.status = strCMDDAT
	}
	return nil
}
