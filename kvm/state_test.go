package kvm

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This mirrors kvm_xsave (without the flexible extra[] of KVM_GET_XSAVE2).
type xsaveMirror struct {
	Region [1024]uint32
}

func TestStateStructLayout(t *testing.T) {
	var (
		xcrs XCRs
		xcr  XCR
		dr   DebugRegs
		chip IRQChip
		pic  PICState
		io   IOAPICState
		ch   PITChannelState
		pit  PITState2
	)
	for _, c := range []struct {
		name      string
		got, want uintptr // want: sizeof/offsetof printed by a C program including <linux/kvm.h> (6.1)
	}{
		{"sizeof kvm_xsave", unsafe.Sizeof(xsaveMirror{}), 4096},
		{"XSaveSize", XSaveSize, unsafe.Sizeof(xsaveMirror{})},
		{"sizeof kvm_xcrs", unsafe.Sizeof(xcrs), 392},
		{"sizeof kvm_xcr", unsafe.Sizeof(xcr), 16},
		{"sizeof kvm_debugregs", unsafe.Sizeof(dr), 128},
		{"sizeof kvm_irqchip", unsafe.Sizeof(chip), 520},
		{"sizeof kvm_pic_state", unsafe.Sizeof(pic), 16},
		{"sizeof kvm_ioapic_state", unsafe.Sizeof(io), 216},
		{"sizeof kvm_pit_channel_state", unsafe.Sizeof(ch), 24},
		{"sizeof kvm_pit_state2", unsafe.Sizeof(pit), 112},
		{"kvm_xcrs.flags", unsafe.Offsetof(xcrs.Flags), 4},
		{"kvm_xcrs.xcrs", unsafe.Offsetof(xcrs.XCRs), 8},
		{"kvm_xcr.value", unsafe.Offsetof(xcr.Value), 8},
		{"kvm_debugregs.dr6", unsafe.Offsetof(dr.DR6), 32},
		{"kvm_debugregs.dr7", unsafe.Offsetof(dr.DR7), 40},
		{"kvm_debugregs.flags", unsafe.Offsetof(dr.Flags), 48},
		{"kvm_irqchip.chip", unsafe.Offsetof(chip.Chip), 8},
		{"kvm_pic_state.elcr", unsafe.Offsetof(pic.ELCR), 14},
		{"kvm_pic_state.elcr_mask", unsafe.Offsetof(pic.ELCRMask), 15},
		{"kvm_ioapic_state.ioregsel", unsafe.Offsetof(io.IORegSel), 8},
		{"kvm_ioapic_state.id", unsafe.Offsetof(io.ID), 12},
		{"kvm_ioapic_state.irr", unsafe.Offsetof(io.IRR), 16},
		{"kvm_ioapic_state.redirtbl", unsafe.Offsetof(io.RedirTbl), 24},
		{"kvm_pit_channel_state.latched_count", unsafe.Offsetof(ch.LatchedCount), 4},
		{"kvm_pit_channel_state.count_latched", unsafe.Offsetof(ch.CountLatched), 6},
		{"kvm_pit_channel_state.gate", unsafe.Offsetof(ch.Gate), 15},
		{"kvm_pit_channel_state.count_load_time", unsafe.Offsetof(ch.CountLoadTime), 16},
		{"kvm_pit_state2.flags", unsafe.Offsetof(pit.Flags), 72},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestStateConstsAgainstHeaders checks the chip ids, PIT and clock flags and
// array bounds against the installed kernel headers.
func TestStateConstsAgainstHeaders(t *testing.T) {
	asm := headerDefines(t, "/usr/include/x86_64-linux-gnu/asm/kvm.h")
	gen := headerDefines(t, "/usr/include/linux/kvm.h")
	for _, c := range []struct {
		defs map[string]string
		name string
		want uint64
	}{
		{asm, "KVM_IRQCHIP_PIC_MASTER", IRQChipPICMaster},
		{asm, "KVM_IRQCHIP_PIC_SLAVE", IRQChipPICSlave},
		{asm, "KVM_IRQCHIP_IOAPIC", IRQChipIOAPIC},
		{asm, "KVM_IOAPIC_NUM_PINS", _KVM_IOAPIC_NUM_PINS},
		{asm, "KVM_MAX_XCRS", _KVM_MAX_XCRS},
		{asm, "KVM_PIT_FLAGS_HPET_LEGACY", PITFlagsHPETLegacy},
		{asm, "KVM_PIT_FLAGS_SPEAKER_DATA_ON", PITFlagsSpeakerDataOn},
		{gen, "KVM_CLOCK_TSC_STABLE", ClockTSCStable},
		{gen, "KVM_CLOCK_REALTIME", ClockRealtime},
		{gen, "KVM_CLOCK_HOST_TSC", ClockHostTSC},
	} {
		v := strings.TrimSuffix(strings.TrimPrefix(c.defs[c.name], "("), ")")
		if strings.HasPrefix(v, "1 << ") {
			sh, _ := strconv.ParseUint(strings.TrimPrefix(v, "1 << "), 0, 8)
			v = strconv.FormatUint(1<<sh, 10)
		}
		if n, err := strconv.ParseUint(v, 0, 64); err != nil || n != c.want {
			t.Errorf("%s: header %q, package %d", c.name, c.defs[c.name], c.want)
		}
	}
}

func TestIRQChipCodec(t *testing.T) {
	c := IRQChip{ChipID: IRQChipPICSlave}
	p := PICState{IRR: 0x11, IMR: 0xfb, IRQBase: 0x28, Init4: 1, ELCR: 0x0c, ELCRMask: 0xde}
	if err := c.SetPIC(p); err != nil {
		t.Fatal(err)
	}
	// kvm_pic_state offsets: irr 1, imr 2, irq_base 5, init4 13, elcr 14, elcr_mask 15.
	if want := []byte{0, 0x11, 0xfb, 0, 0, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x0c, 0xde}; !bytes.Equal(c.Chip[:16], want) {
		t.Errorf("PIC bytes % x, want % x", c.Chip[:16], want)
	}
	if got, err := c.PIC(); err != nil || got != p {
		t.Errorf("PIC() = %+v, %v; want %+v", got, err, p)
	}
	if _, err := c.IOAPIC(); err == nil {
		t.Error("IOAPIC() of a PIC: no error")
	}

	io := IRQChip{ChipID: IRQChipIOAPIC}
	s := IOAPICState{BaseAddress: 0xfec00000, IORegSel: 0x10, ID: 0, IRR: 1 << 4}
	s.RedirTbl[4] = 0x0100_0000_0001_0045 // vector 0x45, masked, destination 1
	if err := io.SetIOAPIC(s); err != nil {
		t.Fatal(err)
	}
	if le.Uint64(io.Chip[0:]) != 0xfec00000 || le.Uint32(io.Chip[16:]) != 1<<4 || le.Uint64(io.Chip[24+4*8:]) != s.RedirTbl[4] {
		t.Errorf("IOAPIC bytes: % x", io.Chip[:64])
	}
	if got, err := io.IOAPIC(); err != nil || got != s {
		t.Errorf("IOAPIC() = %+v, %v; want %+v", got, err, s)
	}
	if err := io.SetPIC(p); err == nil {
		t.Error("SetPIC on the IOAPIC: no error")
	}
}

func TestStateOnNonKVMFile(t *testing.T) {
	c := &VCPU{fd: openNull(t), run: NewRun(make([]byte, testPage))}
	if c.XSaveSize() != XSaveSize {
		t.Errorf("XSaveSize() = %d without a VM's answer, want %d", c.XSaveSize(), XSaveSize)
	}
	_, err := c.GetXSave()
	wantIoctlErr(t, "KVM_GET_XSAVE", err)
	wantIoctlErr(t, "KVM_SET_XSAVE", c.SetXSave(make([]byte, XSaveSize)))
	_, err = c.GetXCRs()
	wantIoctlErr(t, "KVM_GET_XCRS", err)
	wantIoctlErr(t, "KVM_SET_XCRS", c.SetXCRs([]XCR{{XCR: 0, Value: 1}}))
	_, err = c.GetDebugRegs()
	wantIoctlErr(t, "KVM_GET_DEBUGREGS", err)
	wantIoctlErr(t, "KVM_SET_DEBUGREGS", c.SetDebugRegs(&DebugRegs{}))
	_, err = c.GetTSCKHz()
	wantIoctlErr(t, "KVM_GET_TSC_KHZ", err)
	wantIoctlErr(t, "KVM_SET_TSC_KHZ", c.SetTSCKHz(1000))
	wantIoctlErr(t, "KVM_KVMCLOCK_CTRL", c.KVMClockCtrl())
	_, err = c.GetCPUID2()
	wantIoctlErr(t, "KVM_GET_CPUID2", err)

	// Bad arguments never reach the kernel.
	var ke *Error
	if err := c.SetXSave(make([]byte, 100)); !errors.As(err, &ke) || ke.Errno != unix.EINVAL {
		t.Errorf("SetXSave(100 bytes) = %v, want EINVAL", err)
	}
	if err := c.SetXCRs(make([]XCR, 17)); !errors.As(err, &ke) || ke.Errno != unix.E2BIG {
		t.Errorf("SetXCRs(17) = %v, want E2BIG", err)
	}
	if err := c.SetTSCKHz(0); !errors.As(err, &ke) || ke.Errno != unix.EINVAL {
		t.Errorf("SetTSCKHz(0) = %v, want EINVAL", err)
	}

	v := &VM{fd: openNull(t)}
	_, err = v.GetIRQChip(IRQChipIOAPIC)
	wantIoctlErr(t, "KVM_GET_IRQCHIP", err)
	wantIoctlErr(t, "KVM_SET_IRQCHIP", v.SetIRQChip(&IRQChip{}))
	_, err = v.GetPIT2()
	wantIoctlErr(t, "KVM_GET_PIT2", err)
	wantIoctlErr(t, "KVM_SET_PIT2", v.SetPIT2(&PITState2{}))
	closed := &VM{fd: -1}
	if _, err := closed.GetIRQChip(0); !errors.Is(err, ErrClosed) {
		t.Errorf("GetIRQChip after Close: %v", err)
	}
	if _, err := closed.GetPIT2(); !errors.Is(err, ErrClosed) {
		t.Errorf("GetPIT2 after Close: %v", err)
	}
	if _, err := closed.XSaveSize(); !errors.Is(err, ErrClosed) {
		t.Errorf("XSaveSize after Close: %v", err)
	}
}
