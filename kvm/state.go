package kvm

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// The ioctls that read and write the rest of a vCPU's and a VM's state, for
// snapshots: XSAVE area, XCRs, debug registers, TSC frequency, the CPUID a
// vCPU was given, the in-kernel PIC/IOAPIC and PIT.

// maxXSaveSize bounds what KVM_CAP_XSAVE2 may ask for (the whole XSAVE area
// with AMX is about 11 KiB).
const maxXSaveSize = 1 << 20

// XSaveSize returns the size of the kvm_xsave buffer this VM's vCPUs need
// (KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)): XSaveSize (4096) unless the process
// was granted dynamically enabled state components (AMX) before creating
// vCPUs, and on kernels before 5.17, which lack the capability.
func (v *VM) XSaveSize() (int, error) {
	n, err := v.CheckExtension(CapXSave2)
	if err != nil {
		return 0, err
	}
	if n > maxXSaveSize {
		return 0, fmt.Errorf("kvm: KVM_CAP_XSAVE2 asks for %d bytes, more than the %d this package allows", n, maxXSaveSize)
	}
	return max(n, XSaveSize), nil
}

// XSaveSize returns the size of the buffers GetXSave returns and SetXSave
// needs: the VM's XSaveSize when the vCPU was created.
func (c *VCPU) XSaveSize() int { return max(c.xsaveSize, XSaveSize) }

// GetXSave returns the FPU, SSE, AVX, ... state in the XSAVE layout
// (KVM_GET_XSAVE, or KVM_GET_XSAVE2 when XSaveSize is above 4096 bytes).
func (c *VCPU) GetXSave() ([]byte, error) {
	size, req, op := c.XSaveSize(), uintptr(_KVM_GET_XSAVE), "KVM_GET_XSAVE"
	if size > XSaveSize {
		req, op = _KVM_GET_XSAVE2, "KVM_GET_XSAVE2"
	}
	buf := make([]byte, size)
	if _, e := ioctlBuf(c.fd, req, buf); e != 0 {
		return nil, &Error{Op: op, Errno: e}
	}
	return buf, nil
}

// SetXSave sets the state GetXSave returned (KVM_SET_XSAVE). b must hold at
// least the 4096-byte kvm_xsave; a shorter buffer than XSaveSize is padded
// with zeros (the kernel reads the vCPU's whole XSAVE size, and components
// past b are then marked absent by b's XSTATE_BV header anyway).
func (c *VCPU) SetXSave(b []byte) error {
	if len(b) < XSaveSize {
		return fmt.Errorf("kvm: XSAVE state of %d bytes, kvm_xsave has %d: %w", len(b), XSaveSize,
			&Error{Op: "KVM_SET_XSAVE", Errno: unix.EINVAL})
	}
	buf := b
	if size := c.XSaveSize(); len(buf) < size {
		buf = make([]byte, size)
		copy(buf, b)
	}
	_, e := ioctlBuf(c.fd, _KVM_SET_XSAVE, buf)
	return wrap("KVM_SET_XSAVE", e)
}

// GetXCRs returns the extended control registers (KVM_GET_XCRS): XCR0, or
// none on a host without XSAVE.
func (c *VCPU) GetXCRs() ([]XCR, error) {
	var x XCRs
	if _, e := ioctlPtr(c.fd, _KVM_GET_XCRS, &x); e != 0 {
		return nil, &Error{Op: "KVM_GET_XCRS", Errno: e}
	}
	n := min(int(x.NrXCRs), len(x.XCRs))
	out := make([]XCR, n)
	copy(out, x.XCRs[:n])
	return out, nil
}

// SetXCRs sets the extended control registers (KVM_SET_XCRS); at most 16.
func (c *VCPU) SetXCRs(xcrs []XCR) error {
	var x XCRs
	if len(xcrs) > len(x.XCRs) {
		return &Error{Op: "KVM_SET_XCRS", Errno: unix.E2BIG}
	}
	x.NrXCRs = uint32(len(xcrs))
	copy(x.XCRs[:], xcrs)
	_, e := ioctlPtr(c.fd, _KVM_SET_XCRS, &x)
	return wrap("KVM_SET_XCRS", e)
}

// GetDebugRegs returns DR0-3, DR6 and DR7 (KVM_GET_DEBUGREGS).
func (c *VCPU) GetDebugRegs() (DebugRegs, error) {
	var d DebugRegs
	_, e := ioctlPtr(c.fd, _KVM_GET_DEBUGREGS, &d)
	return d, wrap("KVM_GET_DEBUGREGS", e)
}

// SetDebugRegs sets DR0-3, DR6 and DR7 (KVM_SET_DEBUGREGS); Flags must be 0.
func (c *VCPU) SetDebugRegs(d *DebugRegs) error {
	_, e := ioctlPtr(c.fd, _KVM_SET_DEBUGREGS, d)
	return wrap("KVM_SET_DEBUGREGS", e)
}

// GetTSCKHz returns the guest TSC frequency in kHz (KVM_GET_TSC_KHZ; needs
// CapGetTSCKHz).
func (c *VCPU) GetTSCKHz() (uint32, error) {
	r, e := ioctlVal(c.fd, _KVM_GET_TSC_KHZ, 0)
	if e != 0 {
		return 0, &Error{Op: "KVM_GET_TSC_KHZ", Errno: e}
	}
	return uint32(r), nil
}

// SetTSCKHz sets the guest TSC frequency in kHz (KVM_SET_TSC_KHZ). KVM
// accepts a value within 250 ppm of the host's without scaling, a different
// one only with TSC scaling (CapTSCControl) or, above the host's rate, by
// catch-up; it fails otherwise.
func (c *VCPU) SetTSCKHz(khz uint32) error {
	if khz == 0 {
		return fmt.Errorf("kvm: TSC frequency 0 kHz: %w", &Error{Op: "KVM_SET_TSC_KHZ", Errno: unix.EINVAL})
	}
	_, e := ioctlVal(c.fd, _KVM_SET_TSC_KHZ, uintptr(khz))
	return wrap("KVM_SET_TSC_KHZ", e)
}

// KVMClockCtrl tells the guest's kvmclock that the vCPU was paused by the
// host (KVM_KVMCLOCK_CTRL), so its soft-lockup watchdog does not fire on
// resume. EINVAL means the guest has not enabled kvmclock.
func (c *VCPU) KVMClockCtrl() error {
	_, e := ioctlVal(c.fd, _KVM_KVMCLOCK_CTRL, 0)
	return wrap("KVM_KVMCLOCK_CTRL", e)
}

// GetCPUID2 returns the CPUID leaves set with SetCPUID2 (KVM_GET_CPUID2).
func (c *VCPU) GetCPUID2() ([]CPUIDEntry, error) {
	buf := encodeCPUID2(make([]CPUIDEntry, _KVM_MAX_CPUID_ENTRIES))
	if _, e := ioctlBuf(c.fd, _KVM_GET_CPUID2, buf); e != 0 {
		return nil, &Error{Op: "KVM_GET_CPUID2", Errno: e}
	}
	entries, err := decodeCPUID2(buf)
	if err != nil {
		return nil, err
	}
	// Some kernels (6.1 among them) leave nent as it was: the entries
	// past those set read as zeros. No real entry is all zeros (leaf 0's
	// EAX is the highest basic leaf).
	for len(entries) > 0 && entries[len(entries)-1] == (CPUIDEntry{}) {
		entries = entries[:len(entries)-1]
	}
	return entries, nil
}

// GetIRQChip returns the state of the in-kernel PIC master, PIC slave or
// IOAPIC (chip is IRQChipPICMaster, IRQChipPICSlave or IRQChipIOAPIC;
// KVM_GET_IRQCHIP).
func (v *VM) GetIRQChip(chip uint32) (IRQChip, error) {
	c := IRQChip{ChipID: chip}
	if v.fd < 0 {
		return c, ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_GET_IRQCHIP, &c)
	return c, wrap("KVM_GET_IRQCHIP", e)
}

// SetIRQChip sets the state of the chip c.ChipID names (KVM_SET_IRQCHIP).
func (v *VM) SetIRQChip(c *IRQChip) error {
	if v.fd < 0 {
		return ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_SET_IRQCHIP, c)
	return wrap("KVM_SET_IRQCHIP", e)
}

// GetPIT2 returns the in-kernel PIT's state (KVM_GET_PIT2).
func (v *VM) GetPIT2() (PITState2, error) {
	var p PITState2
	if v.fd < 0 {
		return p, ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_GET_PIT2, &p)
	return p, wrap("KVM_GET_PIT2", e)
}

// SetPIT2 sets the in-kernel PIT's state (KVM_SET_PIT2); each channel's
// count restarts from now.
func (v *VM) SetPIT2(p *PITState2) error {
	if v.fd < 0 {
		return ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_SET_PIT2, p)
	return wrap("KVM_SET_PIT2", e)
}

// PIC decodes the chip's kvm_pic_state; c must be a PIC.
func (c *IRQChip) PIC() (PICState, error) {
	var p PICState
	if c.ChipID != IRQChipPICMaster && c.ChipID != IRQChipPICSlave {
		return p, fmt.Errorf("kvm: irqchip %d is not a PIC", c.ChipID)
	}
	_, err := binary.Decode(c.Chip[:], le, &p)
	return p, err
}

// SetPIC encodes p as the chip's kvm_pic_state; c must be a PIC.
func (c *IRQChip) SetPIC(p PICState) error {
	if c.ChipID != IRQChipPICMaster && c.ChipID != IRQChipPICSlave {
		return fmt.Errorf("kvm: irqchip %d is not a PIC", c.ChipID)
	}
	clear(c.Chip[:])
	_, err := binary.Encode(c.Chip[:], le, &p)
	return err
}

// IOAPIC decodes the chip's kvm_ioapic_state; c must be the IOAPIC.
func (c *IRQChip) IOAPIC() (IOAPICState, error) {
	var s IOAPICState
	if c.ChipID != IRQChipIOAPIC {
		return s, fmt.Errorf("kvm: irqchip %d is not the IOAPIC", c.ChipID)
	}
	_, err := binary.Decode(c.Chip[:], le, &s)
	return s, err
}

// SetIOAPIC encodes s as the chip's kvm_ioapic_state; c must be the IOAPIC.
func (c *IRQChip) SetIOAPIC(s IOAPICState) error {
	if c.ChipID != IRQChipIOAPIC {
		return fmt.Errorf("kvm: irqchip %d is not the IOAPIC", c.ChipID)
	}
	clear(c.Chip[:])
	_, err := binary.Encode(c.Chip[:], le, &s)
	return err
}
