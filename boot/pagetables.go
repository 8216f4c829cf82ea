package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// Page-table entry bits (Intel SDM vol. 3A §4.5, Tables 4-15 to 4-18).
const (
	pteP             = 1 << 0 // present
	pteRW            = 1 << 1 // writable
	ptePS            = 1 << 7 // in a PDE: maps a 2 MiB page
	pteAddrMask      = 0x000f_ffff_ffff_f000
	pageTableEntries = PageSize / pteSize // 512 entries per table
	pteSize          = 8
	pdeShift         = 21 // a PDE maps 1 << 21 bytes
	pdpteShift       = 30 // a PDPTE covers 1 << 30 bytes
	pml4eShift       = 39 // a PML4E covers 1 << 39 bytes
)

// pageTables builds the boot page tables: PML4[0] → PDPT, PDPT[0..PDCount)
// → the PD pages, each PD entry a 2 MiB identity mapping, so [0,
// IdentityMapSize) is mapped virtual = physical. The result is the bytes of
// [PML4Addr, PageTablesEnd). Supervisor-only, writable, executable, cached:
// the kernel replaces them with its own in startup_64.
func pageTables() []byte {
	b := make([]byte, PageTablesEnd-PML4Addr)
	put := func(table guestmem.GPA, index int, v uint64) {
		binary.LittleEndian.PutUint64(b[uint64(table-PML4Addr)+uint64(index)*pteSize:], v)
	}
	put(PML4Addr, 0, uint64(PDPTAddr)|pteP|pteRW)
	for i := range PDCount {
		pd := PDAddr + guestmem.GPA(i)*PageSize
		put(PDPTAddr, i, uint64(pd)|pteP|pteRW)
		for j := range pageTableEntries {
			phys := uint64(i*pageTableEntries+j) << pdeShift
			put(pd, j, phys|pteP|pteRW|ptePS)
		}
	}
	return b
}

// writePageTables writes the boot page tables and sets CR3 to them.
func writePageTables(mem *guestmem.Memory, cpu *CPUState) error {
	if err := mem.WriteAt(pageTables(), PML4Addr); err != nil {
		return fmt.Errorf("page tables: %w", err)
	}
	cpu.CR3 = uint64(PML4Addr)
	return nil
}
