package boot

import (
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// Guest RAM size limits.
const (
	// MinMemory is the least guest RAM MemoryRanges accepts: 64 MiB. A
	// Linux vmlinux is linked to load at 16 MiB (CONFIG_PHYSICAL_START,
	// also kernel_alignment), and hull's 6.1 tinyconfig-based guest kernel
	// spans [16 MiB, 28 MiB) with its bss. The initrd must lie above the
	// kernel, and the hull-agent initramfs (a static Go binary plus debug
	// tools) is several MiB that the kernel unpacks into page cache beside
	// itself; 64 MiB leaves 36 MiB above the kernel for that and 15 MiB
	// below it for the kernel's early allocations. A freestanding test guest
	// needs far less, but guest RAM is mapped lazily, so the floor costs it
	// nothing. The VMM's default is 256 MiB.
	MinMemory = 64 << 20
	// MaxMemory is the most guest RAM MemoryRanges accepts: 1 TiB. RAM above
	// the MMIO gap then ends at 1 TiB + 1 GiB, within the 41 physical
	// address bits that every x86-64 CPU KVM runs on has offered since
	// ~2010 (and far below the 52 bits of the page-table format).
	MaxMemory = 1 << 40
)

// MemoryRanges returns the guest RAM ranges for memBytes of RAM: [0,
// min(memBytes, MMIOGapStart)) and, when memBytes is larger, the rest from
// MMIOGapEnd (4 GiB) up. The VMM creates guest memory from them and hands
// that to Setup. memBytes must be a multiple of PageSize within
// [MinMemory, MaxMemory].
func MemoryRanges(memBytes uint64) ([]guestmem.Range, error) {
	switch {
	case memBytes < MinMemory:
		return nil, fmt.Errorf("%w: %d MiB of RAM, at least %d MiB is needed", ErrMemorySize, memBytes>>20, MinMemory>>20)
	case memBytes > MaxMemory:
		return nil, fmt.Errorf("%w: %d MiB of RAM, at most %d MiB is supported", ErrMemorySize, memBytes>>20, MaxMemory>>20)
	case memBytes%PageSize != 0:
		return nil, fmt.Errorf("%w: %d bytes of RAM is not a multiple of the %d-byte page", ErrMemorySize, memBytes, PageSize)
	}
	low := min(memBytes, uint64(MMIOGapStart))
	ranges := []guestmem.Range{{Base: 0, Size: low}}
	if memBytes > low {
		ranges = append(ranges, guestmem.Range{Base: MMIOGapEnd, Size: memBytes - low})
	}
	return ranges, nil
}
