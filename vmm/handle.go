package vmm

import (
	"fmt"
	"sync/atomic"

	"github.com/hullvm/hull/kvm"
)

// bus is what the exit handler needs of devices.Bus.
type bus interface {
	Read(addr uint64, data []byte) bool
	Write(addr uint64, data []byte) bool
}

// exitHandler turns one KVM exit into device accesses or a stop. It is pure
// apart from the buses and counters, so it is tested with synthetic kvm_run
// pages (STYLE 2.13).
type exitHandler struct {
	pio, mmio bus

	unhandledPIO  atomic.Uint64 // accesses to ports with no device
	unhandledMMIO atomic.Uint64
	retries       atomic.Uint64 // KVM_RUN returning EINTR/EAGAIN, and KVM_EXIT_INTR
}

// stopRequest is a decided stop, before the vCPU loop adds its register state.
type stopRequest struct {
	reason  Reason
	code    int
	message string
	needRIP bool // append " at RIP ..." from the vCPU's registers
	emul    bool // an emulation failure: the loop may apply the int3 workaround
}

// handle processes the exit described by run. A nil result means: run again.
func (h *exitHandler) handle(run *kvm.Run) *stopRequest {
	switch reason := run.ExitReason(); reason {
	case kvm.ExitIO:
		io, err := run.IO()
		if err != nil {
			return &stopRequest{reason: ReasonInternalError, message: "bad KVM_EXIT_IO data: " + err.Error()}
		}
		h.doIO(io)
		return nil
	case kvm.ExitMMIO:
		m, err := run.MMIO()
		if err != nil {
			return &stopRequest{reason: ReasonInternalError, message: "bad KVM_EXIT_MMIO data: " + err.Error()}
		}
		if m.IsWrite {
			if !h.mmio.Write(m.PhysAddr, m.Data) {
				h.unhandledMMIO.Add(1)
			}
		} else if !h.mmio.Read(m.PhysAddr, m.Data) {
			h.unhandledMMIO.Add(1)
			fill(m.Data)
		}
		return nil
	case kvm.ExitIntr:
		h.retries.Add(1)
		return nil
	case kvm.ExitHLT:
		// Only without an in-kernel LAPIC does HLT reach us: nothing can wake the vCPU.
		return &stopRequest{reason: ReasonPowerOff, message: "guest halted with no way to wake it", needRIP: true}
	case kvm.ExitShutdown:
		return &stopRequest{reason: ReasonTripleFault, message: "triple fault", needRIP: true}
	case kvm.ExitFailEntry:
		hw, cpu := run.FailEntry()
		return &stopRequest{reason: ReasonFailEntry,
			message: fmt.Sprintf("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason %#x on CPU %d", hw, cpu)}
	case kvm.ExitInternalError:
		ie := run.InternalError()
		if ie.Suberror == kvm.InternalErrorEmulation {
			return &stopRequest{reason: ReasonEmulationFailure, message: "instruction emulation failed", needRIP: true, emul: true}
		}
		return &stopRequest{reason: ReasonInternalError,
			message: fmt.Sprintf("KVM internal error, suberror %d, data %#x", ie.Suberror, ie.Data), needRIP: true}
	case kvm.ExitSystemEvent:
		ev := run.SystemEvent()
		switch ev.Type {
		case kvm.SystemEventShutdown:
			return &stopRequest{reason: ReasonPowerOff, message: "guest powered off"}
		case kvm.SystemEventReset:
			return &stopRequest{reason: ReasonReset, message: "guest requested a reset"}
		case kvm.SystemEventCrash:
			return &stopRequest{reason: ReasonGuestPanic, message: "guest reported a crash"}
		default:
			return &stopRequest{reason: ReasonInternalError, message: fmt.Sprintf("unknown KVM system event %d", ev.Type)}
		}
	default:
		return &stopRequest{reason: ReasonInternalError,
			message: fmt.Sprintf("unexpected exit %s (%d)", kvm.ExitName(reason), reason), needRIP: true}
	}
}

// doIO performs a port access, one element at a time for string I/O (rep
// ins/outs), so each element reaches the device.
func (h *exitHandler) doIO(io kvm.IOExit) {
	size := int(io.Size)
	for i := 0; i+size <= len(io.Data) && size > 0; i += size {
		elem := io.Data[i : i+size]
		if io.Direction == kvm.ExitIOOut {
			if !h.pio.Write(uint64(io.Port), elem) {
				h.unhandledPIO.Add(1)
			}
		} else if !h.pio.Read(uint64(io.Port), elem) {
			h.unhandledPIO.Add(1)
			fill(elem)
		}
	}
}

// fill makes a read from nowhere return all ones, as a floating ISA bus does.
func fill(b []byte) {
	for i := range b {
		b[i] = 0xff
	}
}
