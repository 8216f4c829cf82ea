package vmm

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"slices"
	"testing"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/kvm"
)

// fillState sets every exported field reachable from v to a value derived from
// *n (counting up), slices to two elements: no field is left at its zero
// value, so a field gob dropped would show.
func fillState(t *testing.T, v reflect.Value, n *uint64) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Name == "_" {
				continue
			}
			if !f.IsExported() {
				t.Fatalf("%s.%s is unexported: gob would drop it", v.Type(), f.Name)
			}
			fillState(t, v.Field(i), n)
		}
	case reflect.Array:
		for i := range v.Len() {
			fillState(t, v.Index(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillState(t, v.Index(i), n)
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		*n++
		v.SetUint(*n%250 + 1)
	case reflect.Int, reflect.Int64:
		*n++
		v.SetInt(int64(*n%250) + 1)
	default:
		t.Fatalf("fillState: unexpected kind %s (%s)", v.Kind(), v.Type())
	}
}

func TestCPUStateGobRoundTrip(t *testing.T) {
	var n uint64
	var vc VCPUState
	fillState(t, reflect.ValueOf(&vc).Elem(), &n)
	var vm VMState
	fillState(t, reflect.ValueOf(&vm).Elem(), &n)
	// The realistic sizes.
	vc.XSave = bytes.Repeat([]byte{0xa5, 0x5a}, kvm.XSaveSize/2)

	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	if err := enc.Encode(&vc); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&vm); err != nil {
		t.Fatal(err)
	}
	var vc2 VCPUState
	var vm2 VMState
	dec := gob.NewDecoder(&buf)
	if err := dec.Decode(&vc2); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&vm2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vc, vc2) {
		t.Errorf("VCPUState changed in a gob round trip:\n%+v\n%+v", vc, vc2)
	}
	if !reflect.DeepEqual(vm, vm2) {
		t.Errorf("VMState changed in a gob round trip:\n%+v\n%+v", vm, vm2)
	}
}

func TestMSRsToSave(t *testing.T) {
	kvmList := []uint32{
		msrIA32TSC, msrSTAR, msrEFER, msrIA32MCGCtl, 0x40000000, 0x40000105, msrKVMSystemTimeNew,
		msrKVMAsyncPFEn, msrKVMAsyncPFInt, msrIA32TSCDeadline, msrIA32TSC, 0xc0010117, msrKVMPollControl,
	}
	got := msrsToSave(kvmList)
	seen := map[uint32]int{}
	for _, i := range got {
		seen[i]++
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("MSR %#x listed %d times", i, c)
		}
	}
	for _, i := range []uint32{msrEFER, msrIA32MCGCtl, 0x40000000, 0x40000105, msrIA32APICBase, msrFSBase, msrGSBase} {
		if seen[i] > 0 {
			t.Errorf("MSR %#x is saved, want it left out", i)
		}
	}
	want := []uint32{
		msrIA32TSC, msrIA32TSCAdjust, msrIA32TSCDeadline, msrIA32MiscEnable, msrIA32PAT,
		msrIA32SysenterCS, msrIA32SysenterESP, msrIA32SysenterEIP, msrSTAR, msrLSTAR, msrCSTAR,
		msrSyscallMask, msrKernelGSBase, msrTSCAux,
		msrMTRRDefType, msrMTRRFix64K00000, msrMTRRFix16K80000, msrMTRRFix16KA0000, msrMTRRFix4KC0000,
		msrMTRRFix4KF8000, msrMTRRPhysBase0, msrMTRRPhysMask7,
		msrKVMWallClockNew, msrKVMSystemTimeNew, msrKVMAsyncPFEn, msrKVMAsyncPFInt, msrKVMStealTime,
		msrKVMPVEOIEn, msrKVMPollControl,
		0xc0010117, // from KVM's list, unknown to hull: kept
	}
	for _, i := range want {
		if seen[i] == 0 {
			t.Errorf("MSR %#x is not saved", i)
		}
	}
	for _, m := range boot.BootMSRs() {
		if seen[m.Index] == 0 {
			t.Errorf("boot MSR %#x is not saved", m.Index)
		}
	}
	// KVM's order first.
	if got[0] != msrIA32TSC || got[1] != msrSTAR || got[2] != msrKVMSystemTimeNew {
		t.Errorf("KVM's order not kept: %#x", got[:3])
	}
}

func TestMSRRestoreOrder(t *testing.T) {
	in := []kvm.MSREntry{
		{Index: msrIA32TSCDeadline, Data: 9}, {Index: msrSTAR, Data: 1}, {Index: msrKVMAsyncPFEn, Data: 2},
		{Index: msrIA32TSC, Data: 3}, {Index: msrKVMAsyncPFInt, Data: 4}, {Index: msrLSTAR, Data: 5},
	}
	got := msrRestoreOrder(in)
	idx := func(i uint32) int {
		return slices.IndexFunc(got, func(e kvm.MSREntry) bool { return e.Index == i })
	}
	if len(got) != len(in) {
		t.Fatalf("%d entries, want %d", len(got), len(in))
	}
	for _, e := range in {
		if j := idx(e.Index); j < 0 || got[j] != e {
			t.Errorf("MSR %#x lost or changed: %+v", e.Index, got)
		}
	}
	if idx(msrKVMAsyncPFInt) > idx(msrKVMAsyncPFEn) {
		t.Errorf("ASYNC_PF_INT after ASYNC_PF_EN: %+v", got)
	}
	if idx(msrIA32TSCDeadline) != len(got)-1 || idx(msrIA32TSC) > idx(msrIA32TSCDeadline) {
		t.Errorf("TSC_DEADLINE not last, after TSC: %+v", got)
	}
	if idx(msrSTAR) > idx(msrLSTAR) {
		t.Errorf("the others' order changed: %+v", got)
	}
}

func TestFixZeroTSCDeadline(t *testing.T) {
	lapicWith := func(lvtt uint32) *kvm.LAPICState {
		var l kvm.LAPICState
		l.Regs[apicLVTT], l.Regs[apicLVTT+1], l.Regs[apicLVTT+2], l.Regs[apicLVTT+3] = byte(lvtt), byte(lvtt>>8), byte(lvtt>>16), byte(lvtt>>24)
		return &l
	}
	msrs := func(deadline uint64) []kvm.MSREntry {
		return []kvm.MSREntry{{Index: msrIA32TSC, Data: 0x1234_5678}, {Index: msrIA32TSCDeadline, Data: deadline}}
	}
	for _, c := range []struct {
		name     string
		lvtt     uint32
		deadline uint64
		want     uint64
	}{
		{"deadline mode, unmasked, 0", apicLVTTTSCDeadline | 0xef, 0, 0x1234_5678},
		{"deadline mode, unmasked, armed", apicLVTTTSCDeadline | 0xef, 0x9999_0000, 0x9999_0000},
		{"deadline mode, masked", apicLVTTTSCDeadline | apicLVTMasked | 0xef, 0, 0},
		{"one-shot mode", 0xef, 0, 0},
		{"periodic mode", 1<<17 | 0xef, 0, 0},
	} {
		m := msrs(c.deadline)
		fixZeroTSCDeadline(lapicWith(c.lvtt), m)
		if m[1].Data != c.want || m[0].Data != 0x1234_5678 {
			t.Errorf("%s: TSC_DEADLINE %#x, want %#x", c.name, m[1].Data, c.want)
		}
	}
}

func TestRestoreRejectsForeignState(t *testing.T) {
	c := &vcpu{id: 1}
	if err := c.restoreState(nil); err == nil {
		t.Error("restoreState(nil): no error")
	}
	if err := c.restoreState(&VCPUState{ID: 0}); err == nil {
		t.Error("restoreState of vCPU 0's state into vCPU 1: no error")
	}
	m := &machine{}
	if err := m.restoreVMState(nil); err == nil {
		t.Error("restoreVMState(nil): no error")
	}
	// Chips in the wrong places are refused before KVM is asked (m has no VM).
	swapped := &VMState{PICMaster: kvm.IRQChip{ChipID: kvm.IRQChipIOAPIC}, PICSlave: kvm.IRQChip{ChipID: kvm.IRQChipPICSlave},
		IOAPIC: kvm.IRQChip{ChipID: kvm.IRQChipPICMaster}}
	if err := m.restoreVMState(swapped); err == nil {
		t.Error("restoreVMState with the IOAPIC and PIC master swapped: no error")
	}
}
