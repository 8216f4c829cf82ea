package boot

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

func TestMemoryRanges(t *testing.T) {
	const gap = uint64(MMIOGapStart)
	for _, c := range []struct {
		mem  uint64
		want []guestmem.Range
	}{
		{MinMemory, []guestmem.Range{{Base: 0, Size: MinMemory}}},
		{256 << 20, []guestmem.Range{{Base: 0, Size: 256 << 20}}},
		{gap, []guestmem.Range{{Base: 0, Size: gap}}},
		{gap + PageSize, []guestmem.Range{{Base: 0, Size: gap}, {Base: MMIOGapEnd, Size: PageSize}}},
		{8 << 30, []guestmem.Range{{Base: 0, Size: gap}, {Base: MMIOGapEnd, Size: 8<<30 - gap}}},
		{MaxMemory, []guestmem.Range{{Base: 0, Size: gap}, {Base: MMIOGapEnd, Size: MaxMemory - gap}}},
	} {
		t.Run(fmt.Sprintf("%dMiB", c.mem>>20), func(t *testing.T) {
			got, err := MemoryRanges(c.mem)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("MemoryRanges(%#x) = %v, want %v", c.mem, got, c.want)
			}
			var total uint64
			for _, r := range got {
				total += r.Size
				if r.Base < MMIOGapEnd && r.End() > MMIOGapStart {
					t.Errorf("range %v overlaps the MMIO gap", r)
				}
			}
			if total != c.mem {
				t.Errorf("ranges hold %#x bytes, want %#x", total, c.mem)
			}
		})
	}
}

func TestMemoryRangesRejects(t *testing.T) {
	for _, c := range []struct {
		mem  uint64
		want string
	}{
		{0, fmt.Sprintf("at least %d MiB", MinMemory>>20)},
		{MinMemory - PageSize, fmt.Sprintf("at least %d MiB", MinMemory>>20)},
		{MaxMemory + PageSize, fmt.Sprintf("at most %d MiB", MaxMemory>>20)},
		{^uint64(0), fmt.Sprintf("at most %d MiB", MaxMemory>>20)},
		{MinMemory + 1, "not a multiple"},
	} {
		_, err := MemoryRanges(c.mem)
		if !errors.Is(err, ErrMemorySize) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MemoryRanges(%#x) = %v, want ErrMemorySize saying %q", c.mem, err, c.want)
		}
	}
}
