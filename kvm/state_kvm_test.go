package kvm

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// The kvm tier: every snapshot-state ioctl against real KVM, each value
// written, read back and compared.

// fxsave/XSAVE legacy-area offsets (Intel SDM vol. 1, 10.5.1 and 13.4.2).
const (
	xsaveXMM0     = 160 // XMM0..XMM15, 16 bytes each
	xsaveXStateBV = 512 // the XSAVE header's XSTATE_BV
	xfeatureSSE   = 1 << 1
)

func TestKVMSnapshotStateIoctls(t *testing.T) {
	tv := newTestVM(t, []byte{0xf4})
	cpuid, err := tv.sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	if err := tv.cpu.SetCPUID2(cpuid); err != nil {
		t.Fatal(err)
	}

	t.Run("CPUID2", func(t *testing.T) {
		got, err := tv.cpu.GetCPUID2()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(cpuid) {
			t.Fatalf("GetCPUID2: %d entries, SetCPUID2 got %d", len(got), len(cpuid))
		}
		// KVM rewrites a few runtime bits (OSXSAVE, APIC) but keeps the
		// leaves and their order; leaf 0 (vendor, max leaf) is verbatim.
		for i := range got {
			if got[i].Function != cpuid[i].Function || got[i].Index != cpuid[i].Index {
				t.Fatalf("entry %d: leaf %#x.%d, set %#x.%d", i, got[i].Function, got[i].Index, cpuid[i].Function, cpuid[i].Index)
			}
		}
		if got[0] != cpuid[0] {
			t.Errorf("leaf 0: %+v, set %+v", got[0], cpuid[0])
		}
	})

	t.Run("XSave", func(t *testing.T) {
		xs, err := tv.cpu.GetXSave()
		if err != nil {
			t.Fatal(err)
		}
		if len(xs) != tv.cpu.XSaveSize() || len(xs) < XSaveSize {
			t.Fatalf("GetXSave: %d bytes, XSaveSize %d", len(xs), tv.cpu.XSaveSize())
		}
		pattern := []byte("hull xsave xmm0!")
		copy(xs[xsaveXMM0:], pattern)
		le.PutUint64(xs[xsaveXStateBV:], le.Uint64(xs[xsaveXStateBV:])|xfeatureSSE)
		if err := tv.cpu.SetXSave(xs); err != nil {
			t.Fatal(err)
		}
		back, err := tv.cpu.GetXSave()
		if err != nil {
			t.Fatal(err)
		}
		if got := back[xsaveXMM0 : xsaveXMM0+16]; !bytes.Equal(got, pattern) {
			t.Errorf("XMM0 after SetXSave: %q, want %q", got, pattern)
		}
		// The 4096-byte minimum is all SetXSave needs, whatever XSaveSize is.
		if err := tv.cpu.SetXSave(back[:XSaveSize]); err != nil {
			t.Errorf("SetXSave(4096 bytes): %v", err)
		}
	})

	t.Run("XCRs", func(t *testing.T) {
		xcrs, err := tv.cpu.GetXCRs()
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := tv.sys.CheckExtension(CapXCRs); n == 0 || len(xcrs) == 0 {
			t.Skipf("no XCRs on this host (KVM_CAP_XCRS %d, %d XCRs)", n, len(xcrs))
		}
		if xcrs[0].XCR != 0 || xcrs[0].Value&1 == 0 {
			t.Fatalf("XCR0 = %+v, want index 0 with x87 (bit 0) set", xcrs[0])
		}
		// XCR0 = x87|SSE, if the guest's CPUID leaf 0xD allows SSE state.
		var leafD uint32
		for _, e := range cpuid {
			if e.Function == 0xd && e.Index == 0 {
				leafD = e.EAX
			}
		}
		if leafD&xfeatureSSE == 0 {
			t.Skipf("CPUID 0xD.0 EAX %#x: no SSE state to enable", leafD)
		}
		if err := tv.cpu.SetXCRs([]XCR{{XCR: 0, Value: 1 | xfeatureSSE}}); err != nil {
			t.Fatal(err)
		}
		if back, err := tv.cpu.GetXCRs(); err != nil || len(back) == 0 || back[0].Value != 1|xfeatureSSE {
			t.Errorf("XCRs after setting XCR0=3: %+v, %v", back, err)
		}
	})

	t.Run("DebugRegs", func(t *testing.T) {
		d, err := tv.cpu.GetDebugRegs()
		if err != nil {
			t.Fatal(err)
		}
		d.DB = [4]uint64{0x1000, 0x2000, 0x3000, 0xffff_8000_0000_4000}
		if err := tv.cpu.SetDebugRegs(&d); err != nil {
			t.Fatal(err)
		}
		back, err := tv.cpu.GetDebugRegs()
		if err != nil {
			t.Fatal(err)
		}
		if back.DB != d.DB || back.DR7 != d.DR7 || back.DR6 != d.DR6 {
			t.Errorf("debug registers %+v, set %+v", back, d)
		}
	})

	t.Run("TSCKHz", func(t *testing.T) {
		if n, _ := tv.sys.CheckExtension(CapGetTSCKHz); n == 0 {
			t.Skip("no KVM_CAP_GET_TSC_KHZ")
		}
		khz, err := tv.cpu.GetTSCKHz()
		if err != nil || khz == 0 {
			t.Fatalf("GetTSCKHz() = %d, %v", khz, err)
		}
		if err := tv.cpu.SetTSCKHz(khz); err != nil {
			t.Errorf("SetTSCKHz(%d), its own frequency: %v", khz, err)
		}
		t.Logf("guest TSC %d kHz", khz)
	})

	t.Run("MSRBatches", func(t *testing.T) {
		// More than one KVM_GET_MSRS takes: GetMSRs and SetMSRs split them.
		const sysenterCS, sysenterESP = 0x174, 0x175
		idx := make([]uint32, 300)
		ents := make([]MSREntry, 300)
		for i := range idx {
			idx[i] = sysenterCS + uint32(i%2)
			ents[i] = MSREntry{Index: idx[i], Data: uint64(0x100 + i)}
		}
		if err := tv.cpu.SetMSRs(ents); err != nil {
			t.Fatal(err)
		}
		got, err := tv.cpu.GetMSRs(idx)
		if err != nil || len(got) != len(idx) {
			t.Fatalf("GetMSRs(300) = %d entries, %v", len(got), err)
		}
		// The last writes win: 0x100+298 for CS, 0x100+299 for ESP.
		if got[0].Data != 0x100+298 || got[299].Data != 0x100+299 {
			t.Errorf("MSRs after 300 writes: %#x %#x", got[0].Data, got[299].Data)
		}
		idx[280] = 0xdeadbeef
		var me *MSRError
		if _, err := tv.cpu.GetMSRs(idx); !errors.As(err, &me) || me.Index != 0xdeadbeef || me.Done != 280 || me.Total != 300 {
			t.Errorf("GetMSRs with a bogus MSR at 280: %v", err)
		}
	})

	t.Run("KVMClockCtrl", func(t *testing.T) {
		// The guest never enabled kvmclock: KVM says EINVAL.
		if err := tv.cpu.KVMClockCtrl(); !errors.Is(err, unix.EINVAL) {
			t.Errorf("KVMClockCtrl without guest kvmclock: %v, want EINVAL", err)
		}
	})
}

func TestKVMIRQChipPITState(t *testing.T) {
	tv := newTestVM(t, []byte{0xf4})
	// newTestVM's vCPU exists already, which KVM_CREATE_IRQCHIP refuses:
	// this test uses a second VM.
	vm, err := tv.sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	if err := vm.CreatePIT2(); err != nil {
		t.Fatal(err)
	}

	master, err := vm.GetIRQChip(IRQChipPICMaster)
	if err != nil {
		t.Fatal(err)
	}
	pic, err := master.PIC()
	if err != nil {
		t.Fatal(err)
	}
	pic.IMR, pic.IRQBase = 0xa5, 0x20
	if err := master.SetPIC(pic); err != nil {
		t.Fatal(err)
	}
	if err := vm.SetIRQChip(&master); err != nil {
		t.Fatal(err)
	}
	if back, err := vm.GetIRQChip(IRQChipPICMaster); err != nil || back != master {
		got, _ := back.PIC()
		t.Errorf("PIC master after set: %+v, %v; want %+v", got, err, pic)
	}
	if slave, err := vm.GetIRQChip(IRQChipPICSlave); err != nil || slave.ChipID != IRQChipPICSlave {
		t.Errorf("PIC slave: %v", err)
	} else if p, _ := slave.PIC(); p.IMR == 0xa5 {
		t.Error("setting the master changed the slave")
	}

	ioapic, err := vm.GetIRQChip(IRQChipIOAPIC)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ioapic.IOAPIC()
	if err != nil {
		t.Fatal(err)
	}
	if s.BaseAddress != 0xfec00000 {
		t.Errorf("IOAPIC base %#x, want 0xfec00000", s.BaseAddress)
	}
	s.RedirTbl[5] = 1<<16 | 0x45 // masked, vector 0x45
	if err := ioapic.SetIOAPIC(s); err != nil {
		t.Fatal(err)
	}
	if err := vm.SetIRQChip(&ioapic); err != nil {
		t.Fatal(err)
	}
	if back, err := vm.GetIRQChip(IRQChipIOAPIC); err != nil {
		t.Fatal(err)
	} else if got, _ := back.IOAPIC(); got.RedirTbl[5] != s.RedirTbl[5] {
		t.Errorf("IOAPIC pin 5 after set: %#x, want %#x", got.RedirTbl[5], s.RedirTbl[5])
	}
	if _, err := vm.GetIRQChip(3); !errors.Is(err, unix.EINVAL) {
		t.Errorf("GetIRQChip(3): %v, want EINVAL", err)
	}

	pit, err := vm.GetPIT2()
	if err != nil {
		t.Fatal(err)
	}
	// Channel 2 (the speaker's, gate low): a count that starts nothing.
	pit.Channels[2].Count, pit.Channels[2].Mode, pit.Channels[2].RWMode = 0x1234, 0, 3
	if err := vm.SetPIT2(&pit); err != nil {
		t.Fatal(err)
	}
	back, err := vm.GetPIT2()
	if err != nil {
		t.Fatal(err)
	}
	if c := back.Channels[2]; c.Count != 0x1234 || c.Mode != 0 || c.RWMode != 3 {
		t.Errorf("PIT channel 2 after set: %+v", c)
	}
}
