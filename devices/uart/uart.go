package uart

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/hullvm/hull/devices"
)

// RxQueueSize is how many input bytes the UART holds for the guest. Input
// beyond that is dropped, counted (Stats.RxDropped) and reported to the guest
// as an overrun (LSR.OE).
const RxQueueSize = 64 << 10

// Stats are the UART's counters. Nothing the guest does is logged; it is
// counted here.
type Stats struct {
	TxBytes       uint64 // bytes written to out
	TxErrors      uint64 // bytes lost because out.Write failed
	RxBytes       uint64 // input bytes queued for the guest
	RxDropped     uint64 // input bytes dropped because the queue was full
	RxCleared     uint64 // queued bytes the guest discarded (FCR clear or FIFO enable toggled)
	Interrupts    uint64 // Trigger calls
	TriggerErrors uint64 // Trigger calls that failed (host side: irqfd)
	Ignored       uint64 // accesses ignored: width other than 1, offset past SCR, writes to LSR/MSR
}

// UART is an emulated 16550A. Create it with New; its methods are safe for
// concurrent use (vCPU goroutines and the input feeder).
type UART struct {
	// OnFirstOutput, when set before the guest runs, is called once, just
	// before the first byte the guest transmits is written to out (loopback
	// bytes do not count). It runs with the UART's lock held and must not
	// call back into the UART.
	OnFirstOutput func()

	irq devices.Trigger
	out io.Writer

	// mu guards every register and the receive queue. out.Write and
	// OnFirstOutput are called with it held, so output keeps the order in
	// which vCPUs wrote THR; irq.Trigger is called after releasing it.
	mu         sync.Mutex
	ier        byte
	lcr        byte
	mcr        byte
	scr        byte
	dll, dlm   byte
	fcr        byte // FIFO enable and trigger level; the self-clearing bits are not kept
	lsrErr     byte // latched error bits of LSR (OE), cleared by reading LSR
	msrDelta   byte // MSR delta bits, cleared by reading MSR
	thrPending bool // THR-empty interrupt pending: set by a THR write or IER.ETBEI rising, cleared by an IIR read that reports it
	rx         fifo
	wroteOut   bool    // the first output byte has gone out (OnFirstOutput called)
	tx         [1]byte // THR byte handed to out.Write, kept here so the write does not allocate

	stats struct {
		txBytes, txErrors, rxBytes, rxDropped, rxCleared atomic.Uint64
		interrupts, triggerErrors, ignored               atomic.Uint64
	}
}

var _ devices.Device = (*UART)(nil)

// New returns a UART in its reset state that raises irq for its interrupts
// and writes what the guest transmits to out (nil discards it). out.Write
// failures are counted (Stats.TxErrors) and otherwise ignored: the device is
// guest-facing, and a console that went away must not stop the VM. A
// blocking out stalls the vCPU that writes THR, as output is synchronous.
func New(irq devices.Trigger, out io.Writer) *UART {
	if out == nil {
		out = io.Discard
	}
	return &UART{
		irq: irq,
		out: out,
		dll: defaultDivisor,
		rx:  newFIFO(RxQueueSize),
	}
}

// Stats returns a snapshot of the counters.
func (u *UART) Stats() Stats {
	s := &u.stats
	return Stats{
		TxBytes:       s.txBytes.Load(),
		TxErrors:      s.txErrors.Load(),
		RxBytes:       s.rxBytes.Load(),
		RxDropped:     s.rxDropped.Load(),
		RxCleared:     s.rxCleared.Load(),
		Interrupts:    s.interrupts.Load(),
		TriggerErrors: s.triggerErrors.Load(),
		Ignored:       s.ignored.Load(),
	}
}

// Input queues bytes for the guest to read from RBR. What does not fit in
// RxQueueSize is dropped, counted and reported to the guest as an overrun.
// It raises the received-data interrupt when IER.ERBFI is set.
func (u *UART) Input(p []byte) {
	if len(p) == 0 {
		return
	}
	u.mu.Lock()
	was := u.pendingLocked()
	fresh := u.receiveLocked(p) > 0 && u.ier&ierERBFI != 0
	raise := u.raiseLocked(was, fresh)
	u.mu.Unlock()
	if raise {
		u.trigger()
	}
}

// Read implements devices.Device. Only 1-byte accesses at offsets 0-7 are
// registers; anything else reads 0xff bytes and is counted.
func (u *UART) Read(off uint64, data []byte) {
	if len(data) != 1 || off >= Size {
		u.stats.ignored.Add(1)
		for i := range data {
			data[i] = 0xff
		}
		return
	}
	u.mu.Lock()
	data[0] = u.readLocked(off)
	u.mu.Unlock()
	// Reads only ever clear interrupt conditions: nothing to raise.
}

// Write implements devices.Device. Only 1-byte accesses at offsets 0-7 are
// registers; anything else is ignored and counted.
func (u *UART) Write(off uint64, data []byte) {
	if len(data) != 1 || off >= Size {
		u.stats.ignored.Add(1)
		return
	}
	u.mu.Lock()
	was := u.pendingLocked()
	fresh := u.writeLocked(off, data[0])
	raise := u.raiseLocked(was, fresh)
	u.mu.Unlock()
	if raise {
		u.trigger()
	}
}

func (u *UART) trigger() {
	u.stats.interrupts.Add(1)
	if u.irq == nil {
		return
	}
	if err := u.irq.Trigger(); err != nil {
		u.stats.triggerErrors.Add(1)
	}
}

// raiseLocked decides whether an operation sends an interrupt edge. The
// 16550's INTR output is a level (some enabled interrupt is pending) and the
// VMM's Trigger is an edge, so an edge goes out when the level rises, and
// also when an enabled source fires anew while the level is already high
// (fresh): a THR write, or new received data. A real 16550 makes the same
// fresh edge on THR writes (writing THR drops THRE, sending raises it again);
// for input it costs at most a spurious interrupt, which Linux tolerates, and
// it rescues a guest that left data unread.
func (u *UART) raiseLocked(was, fresh bool) bool {
	return u.pendingLocked() && (!was || fresh)
}

// pendingLocked reports the INTR level: some enabled interrupt is pending.
func (u *UART) pendingLocked() bool { return u.iidLocked() != iirNone }

// iidLocked returns the interrupt identification (IIR bits 0-3), by the
// datasheet's priority: line status, received data, THR empty, modem status.
func (u *UART) iidLocked() byte {
	switch {
	case u.ier&ierELSI != 0 && u.lsrErr != 0:
		return iirRLS
	case u.ier&ierERBFI != 0 && u.rx.len() > 0:
		return iirRDA
	case u.ier&ierETBEI != 0 && u.thrPending:
		return iirTHRE
	case u.ier&ierEDSSI != 0 && u.msrDelta != 0:
		return iirMS
	}
	return iirNone
}

func (u *UART) dlab() bool { return u.lcr&lcrDLAB != 0 }

func (u *UART) readLocked(off uint64) byte {
	switch off {
	case regRBR: // also regDLL
		if u.dlab() {
			return u.dll
		}
		b, _ := u.rx.pop() // an empty RBR reads 0
		return b
	case regIER: // also regDLM
		if u.dlab() {
			return u.dlm
		}
		return u.ier
	case regIIR:
		// IIR reads the same with DLAB set (Linux's EFR probes rely on it
		// being non-zero). Reading it when it reports THR empty clears that
		// interrupt (datasheet table 4).
		id := u.iidLocked()
		if id == iirTHRE {
			u.thrPending = false
		}
		if u.fcr&fcrEnable != 0 {
			id |= iirFIFOs
		}
		return id
	case regLCR:
		return u.lcr
	case regMCR:
		return u.mcr
	case regLSR:
		v := lsrTHRE | lsrTEMT | u.lsrErr // output is synchronous: always empty
		if u.rx.len() > 0 {
			v |= lsrDR
		}
		u.lsrErr = 0
		return v
	case regMSR:
		v := u.msrLinesLocked() | u.msrDelta
		u.msrDelta = 0
		return v
	default: // regSCR
		return u.scr
	}
}

// writeLocked applies a register write and reports whether an enabled
// interrupt source fired anew (see raiseLocked).
func (u *UART) writeLocked(off uint64, v byte) (fresh bool) {
	switch off {
	case regTHR: // also regDLL
		if u.dlab() {
			u.dll = v
			return false
		}
		return u.transmitLocked(v)
	case regIER: // also regDLM
		if u.dlab() {
			u.dlm = v
			return false
		}
		old := u.ier
		u.ier = v & ierMask
		// Enabling the THR-empty interrupt raises it, the transmitter being
		// always empty; Linux's startup THRE test counts on it being raised
		// again on each 0→1 edge (as QEMU and Bochs do).
		if (old^u.ier)&ierETBEI != 0 {
			u.thrPending = u.ier&ierETBEI != 0
		}
		return false
	case regFCR:
		if (u.fcr^v)&fcrEnable != 0 || v&fcrClearRX != 0 {
			u.clearRxLocked()
		}
		u.fcr = v & (fcrEnable | fcrTrigger)
		return false
	case regLCR:
		u.lcr = v
		return false
	case regMCR:
		before := u.msrLinesLocked()
		u.mcr = v & mcrMask
		u.msrDelta |= msrDeltas(before, u.msrLinesLocked())
		return false
	case regLSR, regMSR: // read-only (LSR writes are for factory test)
		u.stats.ignored.Add(1)
		return false
	default: // regSCR
		u.scr = v
		return false
	}
}

// transmitLocked sends one THR byte: to out, or back to the receiver in
// loopback mode. The transmitter empties at once, so THR-empty is raised
// again.
func (u *UART) transmitLocked(v byte) (fresh bool) {
	if u.mcr&mcrLOOP != 0 {
		u.tx[0] = v
		if u.receiveLocked(u.tx[:]) > 0 && u.ier&ierERBFI != 0 {
			fresh = true
		}
	} else {
		if !u.wroteOut {
			u.wroteOut = true
			if u.OnFirstOutput != nil {
				u.OnFirstOutput()
			}
		}
		u.tx[0] = v
		if n, err := u.out.Write(u.tx[:]); err != nil || n != 1 {
			u.stats.txErrors.Add(1)
		} else {
			u.stats.txBytes.Add(1)
		}
	}
	u.thrPending = true
	return fresh || u.ier&ierETBEI != 0
}

// receiveLocked queues p for RBR and returns how many bytes fit; the rest
// is an overrun.
func (u *UART) receiveLocked(p []byte) int {
	n := u.rx.push(p)
	u.stats.rxBytes.Add(uint64(n))
	if n < len(p) {
		u.stats.rxDropped.Add(uint64(len(p) - n))
		u.lsrErr |= lsrOE
	}
	return n
}

func (u *UART) clearRxLocked() {
	if n := u.rx.clear(); n > 0 {
		u.stats.rxCleared.Add(uint64(n))
	}
}

// msrLinesLocked returns MSR's line bits (4-7). Outside loopback the UART
// looks like a modem that is present and ready (DCD, DSR, CTS); in loopback
// the lines are wired to MCR: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
func (u *UART) msrLinesLocked() byte {
	if u.mcr&mcrLOOP == 0 {
		return msrLines
	}
	var s byte
	if u.mcr&mcrRTS != 0 {
		s |= msrCTS
	}
	if u.mcr&mcrDTR != 0 {
		s |= msrDSR
	}
	if u.mcr&mcrOUT1 != 0 {
		s |= msrRI
	}
	if u.mcr&mcrOUT2 != 0 {
		s |= msrDCD
	}
	return s
}

// msrDeltas returns the MSR delta bits for a change of the lines from old to
// now. RI reports only its trailing edge.
func msrDeltas(old, now byte) byte {
	changed := old ^ now
	var d byte
	if changed&msrCTS != 0 {
		d |= msrDCTS
	}
	if changed&msrDSR != 0 {
		d |= msrDDSR
	}
	if old&msrRI != 0 && now&msrRI == 0 {
		d |= msrTERI
	}
	if changed&msrDCD != 0 {
		d |= msrDDCD
	}
	return d
}
