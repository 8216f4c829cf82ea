package boot

import (
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// e820 entry types (Linux arch/x86/include/asm/e820/types.h, ACPI 6.5
// §15.3 Table 15.6).
const (
	E820RAM      = 1 // usable RAM
	E820Reserved = 2 // not usable by the OS

	e820EntrySize  = 20  // struct boot_e820_entry: addr u64, size u64, type u32, packed
	e820MaxEntries = 128 // E820_MAX_ENTRIES_ZEROPAGE
)

// E820Entry is one entry of the BIOS memory map handed to the kernel in the
// zero page.
type E820Entry struct {
	Addr uint64
	Size uint64
	Type uint32
}

// E820 returns the memory map for guest RAM regions: every region is RAM
// except [EBDAAddr, HighMemStart), which is reported reserved (EBDA, MP
// table, the legacy VGA and BIOS area). For memory from MemoryRanges that is
//
//	RAM [0, 0x9fc00), reserved [0x9fc00, 1 MiB), RAM [1 MiB, min(mem, 3 GiB)),
//	RAM [4 GiB, ...) for the rest.
//
// The regions must cover [0, HighMemStart) in one region, stay out of the
// MMIO gap, and give at most 128 entries (ErrMemoryLayout otherwise).
func E820(regions []guestmem.Region) ([]E820Entry, error) {
	return e820(regionRanges(regions))
}

// regionRanges returns the guest-physical extent of each region.
func regionRanges(regions []guestmem.Region) []guestmem.Range {
	ranges := make([]guestmem.Range, len(regions))
	for i, r := range regions {
		ranges[i] = guestmem.Range{Base: r.Base, Size: uint64(len(r.Host))}
	}
	return ranges
}

// e820 is E820 on ranges sorted by base and not overlapping.
func e820(ranges []guestmem.Range) ([]E820Entry, error) {
	if err := checkRanges(ranges); err != nil {
		return nil, err
	}
	var out []E820Entry
	add := func(start, end guestmem.GPA, typ uint32) {
		if end > start {
			out = append(out, E820Entry{Addr: uint64(start), Size: uint64(end - start), Type: typ})
		}
	}
	for _, r := range ranges {
		start, end := r.Base, r.End()
		// The reserved window lies inside the first region (checkRegions),
		// so a region is either split around it or untouched.
		if start < HighMemStart {
			add(start, EBDAAddr, E820RAM)
			add(EBDAAddr, HighMemStart, E820Reserved)
			add(HighMemStart, end, E820RAM)
			continue
		}
		add(start, end, E820RAM)
	}
	if len(out) > e820MaxEntries {
		return nil, fmt.Errorf("%w: %d e820 entries, the zero page holds %d", ErrMemoryLayout, len(out), e820MaxEntries)
	}
	return out, nil
}

// checkRanges checks that guest RAM fits the memory map: one range holds
// all of low memory [0, HighMemStart), and no range reaches into the MMIO
// gap. Ranges are sorted and non-overlapping (guestmem guarantees it for
// its regions).
func checkRanges(ranges []guestmem.Range) error {
	if len(ranges) == 0 || ranges[0].Base != 0 || ranges[0].Size < uint64(HighMemStart) {
		return fmt.Errorf("%w: guest RAM must start with one region covering [0, %#x)", ErrMemoryLayout, uint64(HighMemStart))
	}
	for _, r := range ranges {
		start, end := uint64(r.Base), uint64(r.End())
		if end < start || (start < uint64(MMIOGapEnd) && end > uint64(MMIOGapStart)) {
			return fmt.Errorf("%w: RAM [%#x, %#x) overlaps the MMIO gap [%#x, %#x)",
				ErrMemoryLayout, start, end, uint64(MMIOGapStart), uint64(MMIOGapEnd))
		}
	}
	return nil
}
