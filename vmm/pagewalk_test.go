package vmm

import (
	"testing"

	"github.com/hullvm/hull/guestmem"
)

func TestTranslate(t *testing.T) {
	mem, err := guestmem.NewBytes(guestmem.Range{Base: 0, Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	put := func(a, v uint64) {
		if err := mem.PutUint64(guestmem.GPA(a), v); err != nil {
			t.Fatal(err)
		}
	}
	// Linux-like: 0xffffffff81000000 -> 0x1000000 through a 2 MiB page,
	// and 0x400000 -> 0x3000000 through a 4 KiB page.
	const pml4, pdptHi, pdHi, pdptLo, pdLo, pt = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000
	put(pml4+511*8, pdptHi|ptePresent)
	put(pdptHi+510*8, pdHi|ptePresent)
	put(pdHi+8*8, 0x1000000|ptePresent|ptePageSize)
	put(pml4, pdptLo|ptePresent)
	put(pdptLo, pdLo|ptePresent)
	put(pdLo+2*8, pt|ptePresent)
	put(pt, 0x3000000|ptePresent)
	for _, tc := range []struct {
		va   uint64
		want guestmem.GPA
		ok   bool
	}{
		{0xffffffff81000000, 0x1000000, true},
		{0xffffffff81012345, 0x1012345, true},
		{0x400123, 0x3000123, true},
		{0x401000, 0, false},       // PTE not present
		{0x7fff00000000, 0, false}, // PML4E not present
	} {
		got, err := translate(mem, pml4, tc.va)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("translate(%#x) = %#x, %v; want %#x ok=%v", tc.va, uint64(got), err, uint64(tc.want), tc.ok)
		}
	}
	// a table pointer outside RAM is an error, not a panic
	put(pml4+8, 0x7_0000_0000|ptePresent)
	if _, err := translate(mem, pml4, 0x8000000000); err == nil {
		t.Error("walk through a table outside RAM succeeded")
	}
	if _, err := translate(mem, 0xffff_ffff_f000, 0); err == nil {
		t.Error("walk from a CR3 outside RAM succeeded")
	}
}
