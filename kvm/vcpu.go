package kvm

import (
	"errors"

	"golang.org/x/sys/unix"
)

// VCPU is one virtual CPU: its fd and its mapped kvm_run area. Run and the
// register accessors belong to the one OS thread that runs the vCPU (lock it
// with runtime.LockOSThread); RunData().SetImmediateExit may be called from
// any goroutine.
type VCPU struct {
	fd        int
	id        int
	mem       []byte
	run       *Run
	xsaveSize int // the VM's XSaveSize at creation; 0 means XSaveSize
}

// ID returns the vCPU id given to CreateVCPU.
func (c *VCPU) ID() int { return c.id }

// Close unmaps kvm_run and closes the vCPU fd. Closing twice is not an error.
// Call it only after every user of RunData (including a goroutine that kicks
// with SetImmediateExit) has stopped: the old view points into the unmapped
// area.
func (c *VCPU) Close() error {
	var errs []error
	if c.mem != nil {
		errs = append(errs, unix.Munmap(c.mem))
		c.mem = nil
		c.run = NewRun(nil)
	}
	errs = append(errs, closeFD(&c.fd))
	return errors.Join(errs...)
}

// Run enters the guest (KVM_RUN) and returns 0 after an exit to read from
// RunData, or the errno: EINTR when a signal arrived (Go's preemption signals
// do this often: just call Run again) or immediate exit was requested, EAGAIN,
// EFAULT, ... It does not allocate, so a run loop stays allocation-free.
func (c *VCPU) Run() unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), _KVM_RUN, 0)
	return e
}

// RunData returns the view of this vCPU's kvm_run area. After Close it is an
// empty view.
func (c *VCPU) RunData() *Run { return c.run }

// GetRegs returns the general-purpose registers (KVM_GET_REGS).
func (c *VCPU) GetRegs() (Regs, error) {
	var r Regs
	_, e := ioctlPtr(c.fd, _KVM_GET_REGS, &r)
	return r, wrap("KVM_GET_REGS", e)
}

// SetRegs sets the general-purpose registers (KVM_SET_REGS).
func (c *VCPU) SetRegs(r *Regs) error {
	_, e := ioctlPtr(c.fd, _KVM_SET_REGS, r)
	return wrap("KVM_SET_REGS", e)
}

// GetSregs returns the special registers (KVM_GET_SREGS).
func (c *VCPU) GetSregs() (Sregs, error) {
	var s Sregs
	_, e := ioctlPtr(c.fd, _KVM_GET_SREGS, &s)
	return s, wrap("KVM_GET_SREGS", e)
}

// SetSregs sets the special registers (KVM_SET_SREGS).
func (c *VCPU) SetSregs(s *Sregs) error {
	_, e := ioctlPtr(c.fd, _KVM_SET_SREGS, s)
	return wrap("KVM_SET_SREGS", e)
}

// GetFPU returns the FPU/SSE state (KVM_GET_FPU). The kernel leaves MXCSR
// out of the answer (it reads as 0); SetFPU does set it.
func (c *VCPU) GetFPU() (FPU, error) {
	var f FPU
	_, e := ioctlPtr(c.fd, _KVM_GET_FPU, &f)
	return f, wrap("KVM_GET_FPU", e)
}

// SetFPU sets the FPU/SSE state (KVM_SET_FPU).
func (c *VCPU) SetFPU(f *FPU) error {
	_, e := ioctlPtr(c.fd, _KVM_SET_FPU, f)
	return wrap("KVM_SET_FPU", e)
}

// SetCPUID2 sets the CPUID leaves the guest sees (KVM_SET_CPUID2); at most
// 256 entries.
func (c *VCPU) SetCPUID2(entries []CPUIDEntry) error {
	if len(entries) > _KVM_MAX_CPUID_ENTRIES {
		return &Error{Op: "KVM_SET_CPUID2", Errno: unix.E2BIG}
	}
	_, e := ioctlBuf(c.fd, _KVM_SET_CPUID2, encodeCPUID2(entries))
	return wrap("KVM_SET_CPUID2", e)
}

// GetMSRs reads the MSRs in indices (KVM_GET_MSRS, in batches of at most
// 255, the most one call takes). If KVM reads fewer, it returns those it read
// and an *MSRError naming the first it did not.
func (c *VCPU) GetMSRs(indices []uint32) ([]MSREntry, error) {
	got := make([]MSREntry, 0, len(indices))
	for start := 0; start < len(indices); start += _KVM_MAX_MSR_IO {
		chunk := indices[start:min(start+_KVM_MAX_MSR_IO, len(indices))]
		req := make([]MSREntry, len(chunk))
		for i, idx := range chunk {
			req[i].Index = idx
		}
		buf := encodeMSRs(req)
		r, e := ioctlBuf(c.fd, _KVM_GET_MSRS, buf)
		if e != 0 {
			return nil, &Error{Op: "KVM_GET_MSRS", Errno: e}
		}
		n := int(r)
		got = append(got, decodeMSRs(buf, n)...)
		if n < len(chunk) {
			return got, &MSRError{Op: "KVM_GET_MSRS", Index: chunk[n], Done: start + n, Total: len(indices)}
		}
	}
	return got, nil
}

// SetMSRs writes entries (KVM_SET_MSRS, in batches of at most 255). If KVM
// writes fewer, the error is an *MSRError naming the first MSR not written
// (KVM stops at the first it refuses).
func (c *VCPU) SetMSRs(entries []MSREntry) error {
	for start := 0; start < len(entries); start += _KVM_MAX_MSR_IO {
		chunk := entries[start:min(start+_KVM_MAX_MSR_IO, len(entries))]
		r, e := ioctlBuf(c.fd, _KVM_SET_MSRS, encodeMSRs(chunk))
		if e != 0 {
			return &Error{Op: "KVM_SET_MSRS", Errno: e}
		}
		if n := int(r); n < len(chunk) {
			return &MSRError{Op: "KVM_SET_MSRS", Index: chunk[n].Index, Done: start + n, Total: len(entries)}
		}
	}
	return nil
}

// GetLAPIC returns the local APIC registers (KVM_GET_LAPIC; needs the
// in-kernel irqchip).
func (c *VCPU) GetLAPIC() (LAPICState, error) {
	var l LAPICState
	_, e := ioctlPtr(c.fd, _KVM_GET_LAPIC, &l)
	return l, wrap("KVM_GET_LAPIC", e)
}

// SetLAPIC sets the local APIC registers (KVM_SET_LAPIC).
func (c *VCPU) SetLAPIC(l *LAPICState) error {
	_, e := ioctlPtr(c.fd, _KVM_SET_LAPIC, l)
	return wrap("KVM_SET_LAPIC", e)
}

// GetVCPUEvents returns pending exceptions, interrupts and NMIs
// (KVM_GET_VCPU_EVENTS).
func (c *VCPU) GetVCPUEvents() (VCPUEvents, error) {
	var ev VCPUEvents
	_, e := ioctlPtr(c.fd, _KVM_GET_VCPU_EVENTS, &ev)
	return ev, wrap("KVM_GET_VCPU_EVENTS", e)
}

// SetVCPUEvents sets pending exceptions, interrupts and NMIs
// (KVM_SET_VCPU_EVENTS), e.g. to inject an exception.
func (c *VCPU) SetVCPUEvents(ev *VCPUEvents) error {
	_, e := ioctlPtr(c.fd, _KVM_SET_VCPU_EVENTS, ev)
	return wrap("KVM_SET_VCPU_EVENTS", e)
}

// GetMPState returns the multiprocessing state, an MPState* value
// (KVM_GET_MP_STATE).
func (c *VCPU) GetMPState() (uint32, error) {
	var m mpState
	_, e := ioctlPtr(c.fd, _KVM_GET_MP_STATE, &m)
	return m.MPState, wrap("KVM_GET_MP_STATE", e)
}

// SetMPState sets the multiprocessing state (KVM_SET_MP_STATE).
func (c *VCPU) SetMPState(state uint32) error {
	m := mpState{MPState: state}
	_, e := ioctlPtr(c.fd, _KVM_SET_MP_STATE, &m)
	return wrap("KVM_SET_MP_STATE", e)
}
