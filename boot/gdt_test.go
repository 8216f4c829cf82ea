package boot

import (
	"encoding/binary"
	"testing"
)

// TestGDTMatchesCPUState decodes the GDT bytes in guest memory and checks
// they give exactly the segments CPUState loads.
func TestGDTMatchesCPUState(t *testing.T) {
	mem := newLowMem(t)
	var cpu CPUState
	if err := writeDescriptorTables(mem, &cpu); err != nil {
		t.Fatal(err)
	}
	if cpu.GDT.Base != uint64(GDTAddr) || int(cpu.GDT.Limit) != GDTSize-1 {
		t.Errorf("GDTR = %+v", cpu.GDT)
	}
	if cpu.IDT.Base != uint64(IDTAddr) || cpu.IDT.Limit != IDTSize-1 {
		t.Errorf("IDTR = %+v", cpu.IDT)
	}
	gdt := readBytes(t, mem, GDTAddr, GDTSize)
	slot := func(i int) uint64 { return binary.LittleEndian.Uint64(gdt[i*gdtEntrySize:]) }
	if slot(0) != 0 || slot(1) != 0 {
		t.Errorf("null slots = %#x, %#x", slot(0), slot(1))
	}
	for _, c := range []struct {
		name string
		seg  Segment
		hi   bool
	}{{"CS", cpu.CS, false}, {"DS", cpu.DS, false}, {"ES", cpu.ES, false}, {"FS", cpu.FS, false},
		{"GS", cpu.GS, false}, {"SS", cpu.SS, false}, {"TR", cpu.TR, true}} {
		i := int(c.seg.Selector >> selectorIndexShift)
		if i <= 0 || i >= gdtEntryCount || c.seg.Selector&7 != 0 {
			t.Errorf("%s selector %#x is not a GDT slot with RPL 0", c.name, c.seg.Selector)
			continue
		}
		var hi uint64
		if c.hi {
			hi = slot(i + 1)
		}
		if got := decodeDescriptor(slot(i), hi, c.seg.Selector); got != c.seg {
			t.Errorf("%s: GDT slot %d decodes to %+v, CPUState has %+v", c.name, i, got, c.seg)
		}
	}
	// The Linux 64-bit boot protocol: CS = __BOOT_CS, DS/ES/SS = __BOOT_DS.
	if cpu.CS.Selector != 0x10 || cpu.DS.Selector != 0x18 || cpu.ES.Selector != 0x18 || cpu.SS.Selector != 0x18 {
		t.Errorf("selectors CS %#x DS %#x ES %#x SS %#x", cpu.CS.Selector, cpu.DS.Selector, cpu.ES.Selector, cpu.SS.Selector)
	}
	// Raw values as the SDM spells them (and as Firecracker's tests pin
	// 0xaf9b/0xcf93 for the same flat segments).
	if slot(2) != 0x00af9b000000ffff || slot(3) != 0x00cf93000000ffff {
		t.Errorf("code %#016x data %#016x", slot(2), slot(3))
	}
	if want := uint64(0x00008b0000000067) | uint64(TSSAddr)<<16; slot(4) != want || slot(5) != 0 {
		t.Errorf("TSS = %#016x %#016x, want %#016x 0", slot(4), slot(5), want)
	}
	// What VM entry checks (SDM vol. 3C §27.3.1.2): accessed code/data,
	// 64-bit CS with D clear, busy 64-bit TSS that G can express.
	if cpu.CS.L != 1 || cpu.CS.DB != 0 || cpu.CS.Type&segTypeAccessedBit == 0 || cpu.DS.Type&segTypeAccessedBit == 0 {
		t.Errorf("CS %+v DS %+v", cpu.CS, cpu.DS)
	}
	if cpu.TR.S != 0 || cpu.TR.Type != 0xb || cpu.TR.G != 0 || cpu.TR.Limit != TSSSize-1 || cpu.TR.Base != uint64(TSSAddr) {
		t.Errorf("TR %+v", cpu.TR)
	}
	if b := readBytes(t, mem, IDTAddr, IDTSize+TSSSize); string(b) != string(make([]byte, len(b))) {
		t.Error("IDT/TSS not zero")
	}
}

func TestEncodeDescriptorRoundTrip(t *testing.T) {
	for _, s := range []Segment{
		bootCS, bootDS,
		{Selector: 0x28, Base: 0x12345678, Limit: 0xabcde, Type: 0x2, Present: 1, DPL: 3, S: 1, AVL: 1},
		{Selector: 0x30, Base: 0xff000000, Limit: 0x3fff, Type: 0xa, Present: 1, S: 1, G: 1, DB: 1},
	} {
		d, err := encodeDescriptor(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeDescriptor(d, 0, s.Selector); got != s {
			t.Errorf("round trip %+v → %#x → %+v", s, d, got)
		}
	}
	for _, s := range []Segment{{Limit: 0x1000, G: 1}, {Limit: 0x100000}} {
		if _, err := encodeDescriptor(s); err == nil {
			t.Errorf("limit %#x G %d accepted", s.Limit, s.G)
		}
	}
}
