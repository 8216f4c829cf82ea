package boot

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

func TestE820(t *testing.T) {
	for _, c := range []struct {
		name   string
		ranges []guestmem.Range
		want   []E820Entry
	}{
		{"64MiB", []guestmem.Range{{Base: 0, Size: 64 << 20}}, []E820Entry{
			{0, 0x9fc00, E820RAM}, {0x9fc00, 0x60400, E820Reserved}, {0x100000, 63 << 20, E820RAM}}},
		{"exactly 1MiB", []guestmem.Range{{Base: 0, Size: 1 << 20}}, []E820Entry{
			{0, 0x9fc00, E820RAM}, {0x9fc00, 0x60400, E820Reserved}}},
		{"above gap", []guestmem.Range{{Base: 0, Size: uint64(MMIOGapStart)}, {Base: MMIOGapEnd, Size: 1 << 30}}, []E820Entry{
			{0, 0x9fc00, E820RAM}, {0x9fc00, 0x60400, E820Reserved}, {0x100000, uint64(MMIOGapStart) - 0x100000, E820RAM},
			{1 << 32, 1 << 30, E820RAM}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := e820(c.ranges) // ranges: no GiBs of backing memory
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("E820 = %v\nwant %v", got, c.want)
			}
			// The same through guest memory when it is small enough.
			if c.ranges[len(c.ranges)-1].End() > 1<<30 {
				return
			}
			got, err = E820(newMemRanges(t, c.ranges...).Regions())
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("E820 = %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestE820FromMemoryRanges(t *testing.T) {
	mem := newMem(t, 64<<20)
	got, err := E820(mem.Regions())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Addr+got[2].Size != 64<<20 {
		t.Errorf("E820 = %v", got)
	}
}

func TestE820Rejects(t *testing.T) {
	for _, c := range []struct {
		name   string
		ranges []guestmem.Range
	}{
		{"no low memory", []guestmem.Range{{Base: HighMemStart, Size: 1 << 20}}},
		{"low memory too small", []guestmem.Range{{Base: 0, Size: 0x9f000}}},
		{"low memory split", []guestmem.Range{{Base: 0, Size: 0x80000}, {Base: 0x80000, Size: 0x80000}}},
		{"RAM in the gap", []guestmem.Range{{Base: 0, Size: 2 << 20}, {Base: MMIOGapStart - PageSize, Size: 2 * PageSize}}},
		{"RAM inside the gap", []guestmem.Range{{Base: 0, Size: 2 << 20}, {Base: IOAPICAddr, Size: PageSize}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := newMemRanges(t, c.ranges...)
			if _, err := E820(mem.Regions()); !errors.Is(err, ErrMemoryLayout) {
				t.Fatalf("E820 = %v, want ErrMemoryLayout", err)
			}
		})
	}
	var many []guestmem.Range
	many = append(many, guestmem.Range{Base: 0, Size: 2 << 20})
	for i := range e820MaxEntries {
		many = append(many, guestmem.Range{Base: MMIOGapEnd + guestmem.GPA(i)*2*PageSize, Size: PageSize})
	}
	if _, err := E820(newMemRanges(t, many...).Regions()); !errors.Is(err, ErrMemoryLayout) {
		t.Fatalf("E820 with %d regions = %v", len(many), err)
	}
}
