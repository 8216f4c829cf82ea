package uart

import "fmt"

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is the UART's guest-visible state, for a snapshot: every register,
// the bytes waiting for the guest (the receive FIFO and the input queued
// behind it, oldest first), and the pending-interrupt conditions. It is
// gob-encodable. The counters, the output writer and OnFirstOutput are
// host-side and not in it.
type State struct {
	Version            int
	IER, LCR, MCR, SCR byte
	DLL, DLM           byte
	FCR                byte // FIFO enable and trigger level
	LSRErr             byte // latched LSR error bits (OE), cleared by a read of LSR
	MSRDelta           byte // MSR delta bits, cleared by a read of MSR
	THRPending         bool // THR-empty interrupt pending (cleared by the IIR read that reports it)
	RX                 []byte
}

// State returns the UART's state. With the vCPUs stopped it is the state
// the guest left; input may be queued meanwhile (it is then in RX or not,
// as it raced).
func (u *UART) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := State{
		Version: StateVersion,
		IER:     u.ier, LCR: u.lcr, MCR: u.mcr, SCR: u.scr,
		DLL: u.dll, DLM: u.dlm, FCR: u.fcr,
		LSRErr: u.lsrErr, MSRDelta: u.msrDelta, THRPending: u.thrPending,
		RX: make([]byte, 0, u.rx.len()),
	}
	for i := range u.rx.len() {
		s.RX = append(s.RX, u.rx.buf[(u.rx.head+i)%len(u.rx.buf)])
	}
	return s
}

// SetState gives the UART a saved state, before the guest runs. A state
// this UART could never be in (a bit no register keeps, more input than
// RxQueueSize) is refused with an error and nothing changes. It raises no
// interrupt: an interrupt pending at the snapshot is in the interrupt
// controller's saved state.
func (u *UART) SetState(s State) error {
	switch {
	case s.Version != StateVersion:
		return fmt.Errorf("uart: state version %d, want %d", s.Version, StateVersion)
	case s.IER&^ierMask != 0:
		return fmt.Errorf("uart: IER %#x has bits a 16550A does not keep", s.IER)
	case s.MCR&^mcrMask != 0:
		return fmt.Errorf("uart: MCR %#x has bits a 16550A does not keep", s.MCR)
	case s.FCR&^(fcrEnable|fcrTrigger) != 0:
		return fmt.Errorf("uart: FCR %#x has self-clearing or unknown bits", s.FCR)
	case s.LSRErr&^lsrOE != 0:
		return fmt.Errorf("uart: latched LSR bits %#x, only OE (%#x) latches", s.LSRErr, lsrOE)
	case s.MSRDelta&^(msrDCTS|msrDDSR|msrTERI|msrDDCD) != 0:
		return fmt.Errorf("uart: MSR delta bits %#x outside the low nibble", s.MSRDelta)
	case len(s.RX) > RxQueueSize:
		return fmt.Errorf("uart: %d input bytes, the queue holds %d", len(s.RX), RxQueueSize)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ier, u.lcr, u.mcr, u.scr = s.IER, s.LCR, s.MCR, s.SCR
	u.dll, u.dlm, u.fcr = s.DLL, s.DLM, s.FCR
	u.lsrErr, u.msrDelta, u.thrPending = s.LSRErr, s.MSRDelta, s.THRPending
	u.rx.clear()
	u.rx.push(s.RX)
	return nil
}
