package vmm

import (
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// Page-table entry bits (Intel SDM vol. 3 §4.5).
const (
	ptePresent  = 1 << 0
	ptePageSize = 1 << 7
	pteAddrMask = 0x000f_ffff_ffff_f000 // bits 51:12
)

// translate walks 4-level long-mode page tables rooted at cr3 and returns the
// guest physical address of va. It reads the tables through guestmem, so a
// hostile table fails with an error. Used only on the slow path (emulation
// failures), never per exit.
func translate(mem *guestmem.Memory, cr3, va uint64) (guestmem.GPA, error) {
	table := cr3 & pteAddrMask
	for level := 4; level >= 1; level-- {
		shift := uint(12 + 9*(level-1))
		idx := (va >> shift) & 0x1ff
		e, err := mem.Uint64(guestmem.GPA(table + idx*8))
		if err != nil {
			return 0, fmt.Errorf("page walk of %#x at level %d: %w", va, level, err)
		}
		if e&ptePresent == 0 {
			return 0, fmt.Errorf("page walk of %#x: not present at level %d", va, level)
		}
		if level <= 3 && level >= 2 && e&ptePageSize != 0 { // 1 GiB or 2 MiB page
			mask := uint64(1)<<shift - 1
			return guestmem.GPA((e&pteAddrMask)&^mask | va&mask), nil
		}
		table = e & pteAddrMask
	}
	return guestmem.GPA(table | va&0xfff), nil
}
