package boot

import (
	"testing"

	"github.com/hullvm/hull/guestmem"
)

// walk translates va through the page tables in mem the way the MMU does
// in 4-level long mode, reading every entry back from guest memory.
func walk(t *testing.T, mem *guestmem.Memory, cr3, va uint64) uint64 {
	t.Helper()
	table := cr3 & pteAddrMask
	for _, shift := range []uint{pml4eShift, pdpteShift, pdeShift} {
		e, err := mem.Uint64(guestmem.GPA(table + (va>>shift&(pageTableEntries-1))*pteSize))
		if err != nil {
			t.Fatalf("walk %#x: %v", va, err)
		}
		if e&pteP == 0 || e&pteRW == 0 {
			t.Fatalf("walk %#x: entry %#x at level shift %d not present/writable", va, e, shift)
		}
		if shift == pdeShift {
			if e&ptePS == 0 {
				t.Fatalf("walk %#x: PDE %#x is not a 2 MiB page", va, e)
			}
			return e&pteAddrMask&^(LargePageSize-1) | va&(LargePageSize-1)
		}
		if e&ptePS != 0 {
			t.Fatalf("walk %#x: unexpected large page at shift %d", va, shift)
		}
		table = e & pteAddrMask
	}
	panic("unreachable")
}

func TestPageTables(t *testing.T) {
	mem := newLowMem(t)
	// Dirty the table pages: every unused entry must end up zero.
	for a := PML4Addr; a < PageTablesEnd; a += 8 {
		if err := mem.PutUint64(a, 0xdeadbeefdeadbeef); err != nil {
			t.Fatal(err)
		}
	}
	var cpu CPUState
	if err := writePageTables(mem, &cpu); err != nil {
		t.Fatal(err)
	}
	if cpu.CR3 != uint64(PML4Addr) {
		t.Fatalf("CR3 = %#x", cpu.CR3)
	}
	for _, va := range []uint64{0, 0x1000, uint64(ZeroPageAddr) + 0x228, uint64(HighMemStart), 0x1000000, 0x1fffff,
		0x200000, 0x3fffffff, 0x40000000, 0xbfffffff, uint64(MMIOGapStart), uint64(VirtioMMIOBase) + 0x70,
		uint64(IOAPICAddr), uint64(LAPICAddr) + 0x30, 0xffffffff} {
		if pa := walk(t, mem, cpu.CR3, va); pa != va {
			t.Errorf("VA %#x maps to PA %#x, want identity", va, pa)
		}
	}
	// Exactly 1 PML4 entry, PDCount PDPT entries, all PD entries used.
	count := func(table guestmem.GPA) (n int) {
		for i := range pageTableEntries {
			e, err := mem.Uint64(table + guestmem.GPA(i*pteSize))
			if err != nil {
				t.Fatal(err)
			}
			if e != 0 {
				n++
			}
		}
		return n
	}
	if n := count(PML4Addr); n != 1 {
		t.Errorf("%d PML4 entries, want 1", n)
	}
	if n := count(PDPTAddr); n != PDCount {
		t.Errorf("%d PDPT entries, want %d", n, PDCount)
	}
	// A PML4 entry past the first: VA 512 GiB is not mapped.
	if e, _ := mem.Uint64(PML4Addr + 8); e != 0 {
		t.Errorf("PML4[1] = %#x", e)
	}
	// Firecracker's validate_page_tables values for the first GiB.
	for _, c := range []struct {
		a    guestmem.GPA
		want uint64
	}{{PML4Addr, 0xa003}, {PDPTAddr, 0xb003}, {PDAddr, 0x83}, {PDAddr + 8, 0x200083}, {PDAddr + 511*8, 511<<21 | 0x83}} {
		if got, _ := mem.Uint64(c.a); got != c.want {
			t.Errorf("entry at %#x = %#x, want %#x", uint64(c.a), got, c.want)
		}
	}
}
