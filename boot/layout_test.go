package boot

import (
	"cmp"
	"slices"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

type region struct {
	name       string
	start, end uint64
}

func span(name string, a guestmem.GPA, size uint64) region {
	return region{name, uint64(a), uint64(a) + size}
}

// lowRegions are the structures below EBDAAddr; mpRegion is the MP table at
// its largest; mmioRegions live in the MMIO gap.
func lowRegions() []region {
	return []region{
		span("GDT", GDTAddr, GDTSize),
		span("IDT", IDTAddr, IDTSize),
		span("TSS", TSSAddr, TSSSize),
		span("zero page", ZeroPageAddr, ZeroPageSize),
		span("boot stack", BootStackBase, BootStackSize),
		span("PML4", PML4Addr, PageSize),
		span("PDPT", PDPTAddr, PageSize),
		span("PD", PDAddr, PDCount*PageSize),
		span("command line", CmdlineAddr, CmdlineMax),
	}
}

func mpRegion() region { return span("MP table", MPTableAddr, uint64(mpTableSize(MaxCPUs))) }

func mmioRegions() []region {
	return []region{
		span("boot timer", BootTimerAddr, BootTimerSize),
		span("virtio-mmio", VirtioMMIOBase, VirtioMMIOMaxDevices*VirtioMMIOStride),
		span("IOAPIC", IOAPICAddr, IOAPICSize),
		span("LAPIC", LAPICAddr, LAPICSize),
		span("KVM identity map", KVMIdentityMapAddr, PageSize),
		span("KVM TSS", KVMTSSAddr, KVMTSSSize),
	}
}

func TestLayoutNoOverlap(t *testing.T) {
	all := append(append(lowRegions(), mpRegion()), mmioRegions()...)
	all = append(all, region{"high memory (RAM below the gap)", uint64(HighMemStart), uint64(MMIOGapStart)})
	slices.SortFunc(all, func(a, b region) int { return cmp.Compare(a.start, b.start) })
	for i, r := range all {
		if r.end <= r.start {
			t.Errorf("%s [%#x, %#x) is empty", r.name, r.start, r.end)
		}
		if i > 0 && all[i-1].end > r.start {
			t.Errorf("%s [%#x, %#x) overlaps %s [%#x, %#x)", all[i-1].name, all[i-1].start, all[i-1].end, r.name, r.start, r.end)
		}
	}
}

func TestLayoutPlacement(t *testing.T) {
	for _, r := range lowRegions() {
		if r.start < 0x500 || r.end > uint64(EBDAAddr) {
			t.Errorf("%s [%#x, %#x) is outside [0x500, EBDA %#x)", r.name, r.start, r.end, uint64(EBDAAddr))
		}
	}
	if mp := mpRegion(); mp.start < uint64(EBDAAddr) || mp.end > uint64(HighMemStart) {
		t.Errorf("MP table for %d CPUs [%#x, %#x) is outside the reserved [EBDA, 1 MiB)", MaxCPUs, mp.start, mp.end)
	}
	for _, r := range mmioRegions() {
		if r.start < uint64(MMIOGapStart) || r.end > uint64(MMIOGapEnd) {
			t.Errorf("%s [%#x, %#x) is outside the MMIO gap", r.name, r.start, r.end)
		}
	}
	// Stack and table alignment the CPU relies on.
	if BootStackPointer%16 != 0 || BootStackPointer <= BootStackBase || BootStackPointer >= BootStackBase+BootStackSize {
		t.Errorf("boot stack pointer %#x is misplaced", uint64(BootStackPointer))
	}
	for _, a := range []guestmem.GPA{ZeroPageAddr, PML4Addr, PDPTAddr, PDAddr, CmdlineAddr} {
		if a%PageSize != 0 {
			t.Errorf("%#x is not page aligned", uint64(a))
		}
	}
	if GDTAddr%8 != 0 || IDTAddr%8 != 0 {
		t.Errorf("GDT %#x / IDT %#x not 8-byte aligned", uint64(GDTAddr), uint64(IDTAddr))
	}
	// The page tables map everything a kernel reaches at entry, MMIO included.
	if IdentityMapSize != uint64(MMIOGapEnd) {
		t.Errorf("identity map %#x does not reach the end of the MMIO gap %#x", uint64(IdentityMapSize), uint64(MMIOGapEnd))
	}
}

// TestLayoutValues pins the numbers DESIGN.md §3 publishes (the constants
// are derived, so this catches a change in one that moves the others).
func TestLayoutValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"GDTAddr", uint64(GDTAddr), 0x500},
		{"ZeroPageAddr", uint64(ZeroPageAddr), 0x7000},
		{"BootStackPointer", uint64(BootStackPointer), 0x8ff0},
		{"PML4Addr", uint64(PML4Addr), 0x9000},
		{"PDPTAddr", uint64(PDPTAddr), 0xa000},
		{"PDAddr", uint64(PDAddr), 0xb000},
		{"PDCount", PDCount, 4},
		{"PageTablesEnd", uint64(PageTablesEnd), 0xf000},
		{"CmdlineAddr", uint64(CmdlineAddr), 0x20000},
		{"MPTableAddr", uint64(MPTableAddr), 0x9fc00},
		{"HighMemStart", uint64(HighMemStart), 0x100000},
		{"MMIOGapStart", uint64(MMIOGapStart), 0xc0000000},
		{"MMIOGapEnd", uint64(MMIOGapEnd), 1 << 32},
		{"BootTimerAddr", uint64(BootTimerAddr), 0xc0000000},
		{"VirtioMMIOBase", uint64(VirtioMMIOBase), 0xc0001000},
		{"VirtioMMIOStride", VirtioMMIOStride, 0x1000},
		{"VirtioFirstIRQ", VirtioFirstIRQ, 5},
		{"IOAPICAddr", uint64(IOAPICAddr), 0xfec00000},
		{"LAPICAddr", uint64(LAPICAddr), 0xfee00000},
		{"KVMTSSAddr", uint64(KVMTSSAddr), 0xfffbd000},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestVirtioMMIOSlot(t *testing.T) {
	addr, irq, err := VirtioMMIOSlot(0)
	if err != nil || addr != 0xc0001000 || irq != 5 {
		t.Errorf("slot 0 = %#x, %d, %v", uint64(addr), irq, err)
	}
	last := VirtioMMIOMaxDevices - 1
	addr, irq, err = VirtioMMIOSlot(last)
	if err != nil || addr != VirtioMMIOBase+guestmem.GPA(last)*VirtioMMIOStride || irq != IOAPICPins-1 {
		t.Errorf("slot %d = %#x, %d, %v", last, uint64(addr), irq, err)
	}
	for _, n := range []int{-1, VirtioMMIOMaxDevices, 1 << 40} {
		if _, _, err := VirtioMMIOSlot(n); err == nil {
			t.Errorf("slot %d accepted", n)
		}
		if _, err := VirtioMMIOCmdline(n); err == nil {
			t.Errorf("cmdline for slot %d accepted", n)
		}
	}
	s, err := VirtioMMIOCmdline(0)
	if err != nil || s != "virtio_mmio.device=4K@0xc0001000:5" {
		t.Errorf("VirtioMMIOCmdline(0) = %q, %v", s, err)
	}
	s, err = VirtioMMIOCmdline(2)
	if err != nil || s != "virtio_mmio.device=4K@0xc0003000:7" {
		t.Errorf("VirtioMMIOCmdline(2) = %q, %v", s, err)
	}
}
