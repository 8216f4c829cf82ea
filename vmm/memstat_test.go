package vmm

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/guestmem"
)

func TestMeasureMemoryCountsTouchedGuestPages(t *testing.T) {
	const (
		size    = 64 << 20
		touched = 1000
	)
	mem, err := guestmem.NewMmap(guestmem.Range{Base: 0, Size: 16 << 20}, guestmem.Range{Base: 1 << 32, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	// Without this a transparent huge page could make a whole 2 MiB
	// resident on the first touch.
	for _, r := range mem.Regions() {
		if err := unix.Madvise(r.Host, unix.MADV_NOHUGEPAGE); err != nil {
			t.Logf("madvise(MADV_NOHUGEPAGE): %v (huge pages may blur the count)", err)
		}
	}

	before, err := measureMemory(mem)
	if err != nil {
		t.Fatal(err)
	}
	if before.GuestResident != 0 {
		t.Errorf("fresh guest RAM: GuestResident = %d, want 0", before.GuestResident)
	}
	if before.VMMRSS == 0 {
		t.Errorf("VMMRSS = 0, want this process's resident set")
	}

	page := os.Getpagesize()
	host := mem.Regions()[1].Host
	for i := 0; i < touched; i++ {
		host[i*2*page] = 1 // every other page: no neighbour read-ahead to blur the count
	}
	if err := mem.PutUint8(0x1000, 1); err != nil { // one page of the first region
		t.Fatal(err)
	}
	after, err := measureMemory(mem)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64((touched + 1) * page)
	if after.GuestResident != want {
		t.Errorf("after touching %d pages: GuestResident = %d, want %d", touched+1, after.GuestResident, want)
	}
	// VmRSS grew by about the same; allow 25% for the rest of the process
	// (the test runtime allocates too) and for RSS counters being batched
	// per thread.
	if grew := int64(after.VMMRSS) - int64(before.VMMRSS); grew < int64(want)*3/4 {
		t.Errorf("VMMRSS grew by %d bytes after touching %d bytes of guest RAM, want about that much", grew, want)
	}
	if after.Overhead() != after.VMMRSS-after.GuestResident {
		t.Errorf("Overhead() = %d, want %d", after.Overhead(), after.VMMRSS-after.GuestResident)
	}
}

func TestMemStatsOverheadNeverNegative(t *testing.T) {
	if got := (MemStats{VMMRSS: 1, GuestResident: 2}).Overhead(); got != 0 {
		t.Errorf("Overhead() = %d, want 0", got)
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"Name:\thull\nVmPeak:\t  9999 kB\nVmRSS:\t    4660 kB\nRssAnon:\t 1 kB\n", 4660 << 10, false},
		{"VmRSS:\t0 kB\n", 0, false},
		{"Name:\thull\n", 0, true},
		{"VmRSS:\t12 MB\n", 0, true},
		{"VmRSS:\tx kB\n", 0, true},
		{"VmRSS:\n", 0, true},
	}
	for _, tc := range tests {
		got, err := parseVmRSS([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
