package vmm

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/kvm"
)

// The KVM-level state of a VM for snapshots: each vCPU's architectural
// state and the in-kernel devices (PIC, IOAPIC, PIT) and kvmclock. Devices
// emulated in hull (serial, virtio) and guest RAM are saved elsewhere.
//
// Save reads the state of vCPUs that are out of KVM_RUN (paused or
// stopped). Restore writes it into a machine built from the same
// configuration, whose vCPUs were created and configured (CPUID, boot MSRs,
// LINT0/1) but never ran, in the order KVM needs (Firecracker's
// vstate/vcpu/x86_64.rs restore_state is the model).

// VCPUState is one vCPU's architectural state. Every field is exported and
// plain data, so encoding/gob carries it whole.
type VCPUState struct {
	ID    int
	CPUID []kvm.CPUIDEntry // as set with KVM_SET_CPUID2 (per vCPU: APIC IDs differ)
	// MPState is KVM_MP_STATE_*: RUNNABLE, HALTED, or for an AP that the
	// guest has not started UNINITIALIZED / INIT_RECEIVED.
	MPState uint32
	Regs    kvm.Regs
	Sregs   kvm.Sregs // includes EFER, APIC base, CR8 and an injected interrupt
	// XSave is the kvm_xsave area (kvm.XSaveSize bytes, or KVM_CAP_XSAVE2's
	// larger size); nil on a host without XSAVE, where FPU holds the state.
	XSave     []byte
	FPU       kvm.FPU
	XCRs      []kvm.XCR // XCR0; none on a host without XSAVE
	DebugRegs kvm.DebugRegs
	LAPIC     kvm.LAPICState
	MSRs      []kvm.MSREntry // in snapshotMSRs' order, less those KVM would not read
	Events    kvm.VCPUEvents // pending/injected exception, interrupt, NMI; interrupt shadow, SMM
	TSCKHz    uint32         // guest TSC frequency; 0 when KVM cannot tell
}

// VMState is the state of KVM's in-kernel devices and clock.
type VMState struct {
	PICMaster kvm.IRQChip
	PICSlave  kvm.IRQChip
	IOAPIC    kvm.IRQChip
	PIT       kvm.PITState2
	// Clock is kvmclock as KVM_GET_CLOCK gave it. Restore passes its
	// Realtime along (KVM_CLOCK_REALTIME, kernels 5.16 and later), so
	// kvmclock moves on by the wall-clock time between save and restore, as
	// Firecracker's does; the TSC resumes from its saved value.
	Clock kvm.ClockData
}

// MSR numbers (Intel SDM vol. 4; KVM's paravirtual ones from
// Documentation/virt/kvm/x86/msr.rst).
const (
	msrIA32TSC          = 0x10
	msrIA32APICBase     = 0x1b
	msrIA32TSCAdjust    = 0x3b
	msrIA32SysenterCS   = 0x174
	msrIA32SysenterESP  = 0x175
	msrIA32SysenterEIP  = 0x176
	msrIA32MCGCtl       = 0x17b
	msrIA32MiscEnable   = 0x1a0
	msrMTRRPhysBase0    = 0x200 // base/mask pairs up to 0x20f: KVM has 8 variable MTRRs
	msrMTRRPhysMask7    = 0x20f
	msrMTRRFix64K00000  = 0x250
	msrMTRRFix16K80000  = 0x258
	msrMTRRFix16KA0000  = 0x259
	msrMTRRFix4KC0000   = 0x268 // 4K fixed ranges up to 0x26f
	msrMTRRFix4KF8000   = 0x26f
	msrIA32PAT          = 0x277
	msrMTRRDefType      = 0x2ff
	msrIA32TSCDeadline  = 0x6e0
	msrEFER             = 0xc0000080
	msrSTAR             = 0xc0000081
	msrLSTAR            = 0xc0000082
	msrCSTAR            = 0xc0000083
	msrSyscallMask      = 0xc0000084
	msrFSBase           = 0xc0000100
	msrGSBase           = 0xc0000101
	msrKernelGSBase     = 0xc0000102
	msrTSCAux           = 0xc0000103
	msrKVMWallClockNew  = 0x4b564d00
	msrKVMSystemTimeNew = 0x4b564d01
	msrKVMAsyncPFEn     = 0x4b564d02
	msrKVMStealTime     = 0x4b564d03
	msrKVMPVEOIEn       = 0x4b564d04
	msrKVMPollControl   = 0x4b564d05
	msrKVMAsyncPFInt    = 0x4b564d06
	msrHyperVFirst      = 0x40000000 // HV_X64_MSR_GUEST_OS_ID
	msrHyperVLast       = 0x400001ff
)

// extraMSRs are saved even when KVM_GET_MSR_INDEX_LIST leaves them out
// (it never lists the MTRRs, for one).
var extraMSRs = func() []uint32 {
	l := []uint32{
		msrIA32TSC, msrIA32TSCAdjust, msrIA32SysenterCS, msrIA32SysenterESP, msrIA32SysenterEIP,
		msrSTAR, msrLSTAR, msrCSTAR, msrSyscallMask, msrKernelGSBase, msrTSCAux,
		msrIA32MiscEnable, msrIA32PAT, msrMTRRDefType,
		msrMTRRFix64K00000, msrMTRRFix16K80000, msrMTRRFix16KA0000,
		msrKVMWallClockNew, msrKVMSystemTimeNew, msrKVMAsyncPFInt, msrKVMAsyncPFEn,
		msrKVMStealTime, msrKVMPVEOIEn, msrKVMPollControl,
		msrIA32TSCDeadline,
	}
	for i := uint32(msrMTRRPhysBase0); i <= msrMTRRPhysMask7; i++ {
		l = append(l, i)
	}
	for i := uint32(msrMTRRFix4KC0000); i <= msrMTRRFix4KF8000; i++ {
		l = append(l, i)
	}
	return l
}()

// requiredMSRs must be in every vCPU's saved state: those hull sets at boot
// and those a running Linux guest depends on. The rest of the list is saved
// when KVM reads it.
var requiredMSRs = func() []uint32 {
	l := []uint32{msrIA32TSC, msrIA32PAT, msrIA32TSCDeadline}
	for _, m := range boot.BootMSRs() {
		l = append(l, m.Index)
	}
	return l
}()

// skipMSR says which listed MSRs a snapshot leaves out.
func skipMSR(i uint32) bool {
	switch {
	case i == msrEFER, i == msrIA32APICBase, i == msrFSBase, i == msrGSBase:
		return true // in Sregs, restored with them
	case i == msrIA32MCGCtl:
		return true // as Firecracker: KVM refuses writes the guest's MCG_CAP does not allow
	case i >= msrHyperVFirst && i <= msrHyperVLast:
		return true // hull gives the guest no Hyper-V CPUID leaves, so it cannot use these
	}
	return false
}

// snapshotMSRs returns the MSRs a snapshot saves: KVM's
// KVM_GET_MSR_INDEX_LIST (in its order) plus extraMSRs, once each, less
// those skipMSR names. saveState then leaves out any that KVM will not read
// on the vCPU (as Cloud Hypervisor does), failing only for requiredMSRs.
func snapshotMSRs(sys *kvm.System) ([]uint32, error) {
	list, err := sys.MSRIndexList()
	if err != nil {
		return nil, fmt.Errorf("MSRs to snapshot: %w", err)
	}
	return msrsToSave(list), nil
}

func msrsToSave(kvmList []uint32) []uint32 {
	seen := make(map[uint32]bool, len(kvmList)+len(extraMSRs))
	out := make([]uint32, 0, len(kvmList)+len(extraMSRs))
	for _, l := range [][]uint32{kvmList, extraMSRs} {
		for _, i := range l {
			if !seen[i] && !skipMSR(i) {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	return out
}

// msrRestoreOrder returns entries in the order KVM_SET_MSRS needs:
// MSR_KVM_ASYNC_PF_INT (the vector) before MSR_KVM_ASYNC_PF_EN, which
// enables delivery through it, and MSR_IA32_TSC_DEADLINE last, after
// MSR_IA32_TSC: KVM arms the deadline timer against the TSC at the time of
// the write (Firecracker's DEFERRED_MSRS).
func msrRestoreOrder(entries []kvm.MSREntry) []kvm.MSREntry {
	out := make([]kvm.MSREntry, 0, len(entries))
	for _, e := range entries {
		if e.Index == msrKVMAsyncPFInt {
			out = append(out, e)
		}
	}
	var last []kvm.MSREntry
	for _, e := range entries {
		switch e.Index {
		case msrKVMAsyncPFInt:
		case msrIA32TSCDeadline:
			last = append(last, e)
		default:
			out = append(out, e)
		}
	}
	return append(out, last...)
}

// Local APIC timer register and its bits.
const (
	apicLVTT            = 0x320
	apicLVTMasked       = 1 << 16
	apicLVTTModeMask    = 3 << 17
	apicLVTTTSCDeadline = 2 << 17
)

// fixZeroTSCDeadline: with the LAPIC timer unmasked in TSC-deadline mode, a
// saved MSR_IA32_TSC_DEADLINE of 0 becomes the saved TSC, so the restored
// guest gets a (possibly early) timer interrupt rather than none.
// Firecracker found vCPUs that never saw a timer interrupt again after a
// restore otherwise; a guest that expects none masks the timer.
func fixZeroTSCDeadline(lapic *kvm.LAPICState, msrs []kvm.MSREntry) {
	r := lapic.Regs[apicLVTT:]
	lvtt := uint32(r[0]) | uint32(r[1])<<8 | uint32(r[2])<<16 | uint32(r[3])<<24
	if lvtt&apicLVTMasked != 0 || lvtt&apicLVTTModeMask != apicLVTTTSCDeadline {
		return
	}
	var tsc uint64
	for _, e := range msrs {
		if e.Index == msrIA32TSC {
			tsc = e.Data
		}
	}
	for i := range msrs {
		if msrs[i].Index == msrIA32TSCDeadline && msrs[i].Data == 0 {
			msrs[i].Data = tsc
		}
	}
}

// maxCompleteExits bounds the exits completeIO handles: a string I/O
// instruction KVM splits into several exits needs a few, never more.
const maxCompleteExits = 64

// completeIO finishes the instruction whose KVM_EXIT_IO or KVM_EXIT_MMIO the
// vCPU loop handled last: KVM completes it (advancing RIP, writing the
// value read) only on the next KVM_RUN, and does not show the half-done
// state to GET ioctls. KVM_RUN with immediate_exit set completes it and
// returns EINTR before running a guest instruction (KVM API doc, "kvm_run",
// immediate_exit). A vCPU with nothing pending just returns EINTR.
func (c *vcpu) completeIO() error {
	prev := c.run.ImmediateExit()
	defer c.run.SetImmediateExit(prev)
	c.run.SetImmediateExit(true)
	for range maxCompleteExits {
		switch errno := c.cpu.Run(); errno {
		case unix.EINTR:
			return nil
		case unix.EAGAIN:
			continue
		case 0:
			// Completing produced one more exit (the next part of a
			// string I/O): serve it like the loop would, then go on.
			if req := c.m.h.handle(c.run); req != nil {
				return fmt.Errorf("completing the last I/O exit: the vCPU stopped: %s", req.message)
			}
		default:
			return fmt.Errorf("completing the last I/O exit: KVM_RUN: %w", errno)
		}
	}
	return fmt.Errorf("completing the last I/O exit: still exiting after %d exits", maxCompleteExits)
}

// saveState reads the vCPU's state; the vCPU must be out of KVM_RUN
// (paused or stopped) and stay there. msrs is snapshotMSRs' answer.
func (c *vcpu) saveState(msrs []uint32) (*VCPUState, error) {
	if err := c.completeIO(); err != nil {
		return nil, err
	}
	s := &VCPUState{ID: c.id}
	var err error
	// KVM_GET_MP_STATE first: it lets the LAPIC accept pending INIT/SIPI
	// events, which changes registers and LAPIC (Firecracker's order).
	if s.MPState, err = c.cpu.GetMPState(); err != nil {
		return nil, err
	}
	if s.Regs, err = c.cpu.GetRegs(); err != nil {
		return nil, err
	}
	if s.Sregs, err = c.cpu.GetSregs(); err != nil {
		return nil, err
	}
	if n, _ := c.m.sys.CheckExtension(kvm.CapXSave); n > 0 {
		if s.XSave, err = c.cpu.GetXSave(); err != nil {
			return nil, err
		}
	} else if s.FPU, err = c.cpu.GetFPU(); err != nil {
		return nil, err
	}
	if s.XCRs, err = c.cpu.GetXCRs(); err != nil {
		return nil, err
	}
	if s.DebugRegs, err = c.cpu.GetDebugRegs(); err != nil {
		return nil, err
	}
	if s.LAPIC, err = c.cpu.GetLAPIC(); err != nil {
		return nil, err
	}
	if n, _ := c.m.sys.CheckExtension(kvm.CapGetTSCKHz); n > 0 {
		if s.TSCKHz, err = c.cpu.GetTSCKHz(); err != nil {
			return nil, err
		}
	}
	if s.CPUID, err = c.cpu.GetCPUID2(); err != nil {
		return nil, err
	}
	if s.MSRs, err = c.readMSRs(msrs); err != nil {
		return nil, err
	}
	fixZeroTSCDeadline(&s.LAPIC, s.MSRs)
	// Last: the GETs before may change what is pending.
	if s.Events, err = c.cpu.GetVCPUEvents(); err != nil {
		return nil, err
	}
	return s, nil
}

// readMSRs reads the MSRs in indices, leaving out those KVM refuses to read
// on this vCPU, unless they are requiredMSRs.
func (c *vcpu) readMSRs(indices []uint32) ([]kvm.MSREntry, error) {
	out := make([]kvm.MSREntry, 0, len(indices))
	var skipped []uint32
	for rest := indices; len(rest) > 0; {
		got, err := c.cpu.GetMSRs(rest)
		out = append(out, got...)
		var me *kvm.MSRError
		if !errors.As(err, &me) {
			if err != nil {
				return nil, err
			}
			break
		}
		if slices.Contains(requiredMSRs, me.Index) {
			return nil, fmt.Errorf("KVM does not read MSR %#x, which a snapshot needs: %w", me.Index, err)
		}
		skipped = append(skipped, me.Index)
		rest = rest[me.Done+1:]
	}
	if len(skipped) > 0 {
		c.m.cfg.Log.Debug("MSRs KVM does not read, left out of the snapshot", "vcpu", c.id, "msrs", fmt.Sprintf("%#x", skipped))
	}
	return out, nil
}

// writeMSRs writes entries in order. An MSR KVM refuses to write is let
// pass when it already holds the saved value: KVM reads some MSRs it only
// writes when a host feature is there (MSR_KVM_STEAL_TIME needs the host's
// sched_info even to write 0).
func (c *vcpu) writeMSRs(entries []kvm.MSREntry) error {
	for rest := entries; len(rest) > 0; {
		err := c.cpu.SetMSRs(rest)
		var me *kvm.MSRError
		if !errors.As(err, &me) {
			return err
		}
		bad := rest[me.Done]
		cur, gerr := c.cpu.GetMSRs([]uint32{bad.Index})
		if gerr != nil || len(cur) != 1 || cur[0].Data != bad.Data {
			return err
		}
		rest = rest[me.Done+1:]
	}
	return nil
}

// tscKHzTolerancePPM is how far apart a snapshot's and this host's TSC
// frequencies may be without scaling (Firecracker and QEMU use 250 ppm;
// KVM itself does too).
const tscKHzTolerancePPM = 250

// restoreState writes s into this vCPU, which was created and configured
// but has not run. s must come from the vCPU with the same id.
func (c *vcpu) restoreState(s *VCPUState) error {
	if s == nil {
		return errors.New("no saved state")
	}
	if s.ID != c.id {
		return fmt.Errorf("saved state is vCPU %d's", s.ID)
	}
	// The TSC frequency first: writing MSR_IA32_TSC scales by it.
	if s.TSCKHz != 0 {
		if err := c.restoreTSCKHz(s.TSCKHz); err != nil {
			return err
		}
	}
	// CPUID before anything that depends on the guest's features; KVM
	// allows setting it again on a vCPU that has not run.
	if len(s.CPUID) > 0 {
		if err := c.cpu.SetCPUID2(s.CPUID); err != nil {
			return err
		}
	}
	if err := c.cpu.SetMPState(s.MPState); err != nil {
		return err
	}
	// KVM_SET_REGS drops a pending exception; KVM_SET_VCPU_EVENTS below
	// restores it.
	if err := c.cpu.SetRegs(&s.Regs); err != nil {
		return err
	}
	// KVM_SET_SREGS sets the APIC base, which KVM_SET_LAPIC needs first.
	if err := c.cpu.SetSregs(&s.Sregs); err != nil {
		return err
	}
	if len(s.XSave) > 0 {
		if err := c.cpu.SetXSave(s.XSave); err != nil {
			return err
		}
	} else if err := c.cpu.SetFPU(&s.FPU); err != nil {
		return err
	}
	if len(s.XCRs) > 0 {
		if err := c.cpu.SetXCRs(s.XCRs); err != nil {
			return err
		}
	}
	if err := c.cpu.SetDebugRegs(&s.DebugRegs); err != nil {
		return err
	}
	// The LAPIC before the MSRs: MSR_IA32_TSC_DEADLINE is only restored
	// with the timer in TSC-deadline mode.
	if err := c.cpu.SetLAPIC(&s.LAPIC); err != nil {
		return err
	}
	if err := c.writeMSRs(msrRestoreOrder(s.MSRs)); err != nil {
		return err
	}
	// KVM_GET_VCPU_EVENTS reports the other flags (shadow, SMM, payload,
	// triple fault) when it has them, but never the one that makes
	// KVM_SET_VCPU_EVENTS apply the pending NMI count. (Nor the SIPI vector,
	// which it always reports as 0: a pending SIPI was taken in by
	// KVM_GET_MP_STATE before, so there is none to carry.)
	ev := s.Events
	ev.Flags |= kvm.VCPUEventValidNMIPending
	if err := c.cpu.SetVCPUEvents(&ev); err != nil {
		return err
	}
	// Tell kvmclock the guest was stopped, so its watchdogs do not count
	// the time in the snapshot. EINVAL: the guest does not use kvmclock.
	if err := c.cpu.KVMClockCtrl(); err != nil && !errors.Is(err, unix.EINVAL) {
		c.m.cfg.Log.Warn("telling the guest it was paused", "vcpu", c.id, "err", err)
	}
	return nil
}

// restoreTSCKHz makes the guest TSC tick at khz: nothing to do within
// tscKHzTolerancePPM of this host's rate, else KVM_SET_TSC_KHZ, which needs
// TSC scaling (or a faster saved rate, which KVM catches up to).
func (c *vcpu) restoreTSCKHz(khz uint32) error {
	cur, err := c.cpu.GetTSCKHz()
	if err == nil {
		diff := int64(cur) - int64(khz)
		if diff < 0 {
			diff = -diff
		}
		if diff*1_000_000 <= int64(khz)*tscKHzTolerancePPM {
			return nil
		}
	}
	if err := c.cpu.SetTSCKHz(khz); err != nil {
		return fmt.Errorf("the snapshot's TSC runs at %d kHz, this host's at %d kHz, and KVM cannot scale it: %w", khz, cur, err)
	}
	return nil
}

// saveVMState reads the in-kernel PIC, IOAPIC, PIT and kvmclock; the vCPUs
// must be out of KVM_RUN.
func (m *machine) saveVMState() (*VMState, error) {
	s := &VMState{}
	var err error
	for _, c := range []struct {
		id  uint32
		dst *kvm.IRQChip
	}{{kvm.IRQChipPICMaster, &s.PICMaster}, {kvm.IRQChipPICSlave, &s.PICSlave}, {kvm.IRQChipIOAPIC, &s.IOAPIC}} {
		if *c.dst, err = m.vm.GetIRQChip(c.id); err != nil {
			return nil, fmt.Errorf("irqchip %d: %w", c.id, err)
		}
	}
	if s.PIT, err = m.vm.GetPIT2(); err != nil {
		return nil, err
	}
	if s.Clock, err = m.vm.GetClock(); err != nil {
		return nil, err
	}
	return s, nil
}

// restoreVMState writes s into a machine whose irqchip and PIT were created
// (openKVM) and that has not run.
func (m *machine) restoreVMState(s *VMState) error {
	if s == nil {
		return errors.New("no saved VM state")
	}
	chips := []struct {
		id   uint32
		chip *kvm.IRQChip
	}{{kvm.IRQChipPICMaster, &s.PICMaster}, {kvm.IRQChipPICSlave, &s.PICSlave}, {kvm.IRQChipIOAPIC, &s.IOAPIC}}
	for _, c := range chips {
		if c.chip.ChipID != c.id {
			return fmt.Errorf("saved irqchip %d is in the place of irqchip %d", c.chip.ChipID, c.id)
		}
	}
	if err := m.vm.SetPIT2(&s.PIT); err != nil {
		return err
	}
	// Of the flags KVM_GET_CLOCK reports, KVM_SET_CLOCK uses only
	// KVM_CLOCK_REALTIME; kernels before 5.16 refuse any flag.
	clock := s.Clock
	clock.Flags &= kvm.ClockRealtime
	err := m.vm.SetClock(&clock)
	if err != nil && clock.Flags != 0 && errors.Is(err, unix.EINVAL) {
		clock.Flags = 0
		err = m.vm.SetClock(&clock)
	}
	if err != nil {
		return err
	}
	for _, c := range chips {
		if err := m.vm.SetIRQChip(c.chip); err != nil {
			return fmt.Errorf("irqchip %d: %w", c.id, err)
		}
	}
	return nil
}
