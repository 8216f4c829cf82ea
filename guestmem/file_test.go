package guestmem

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWriteSparseNewFile(t *testing.T) {
	ranges := []Range{{Base: 0, Size: 1 << 20}, {Base: 4 << 20, Size: 64 << 10}}
	m, err := NewMmap(ranges...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	marks := map[GPA]byte{0x10: 1, 0x3000: 2, 0x3fff: 3, 0xfffff: 4, 4<<20 + 5: 5, 4<<20 + 64<<10 - 1: 6}
	for a, v := range marks {
		if err := m.PutUint8(a, v); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "mem")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.WriteSparse(f)
	if err != nil {
		t.Fatal(err)
	}
	// Pages 0, 3 and 255 of the first region, pages 0 and 15 of the second.
	if n != 5*PageSize {
		t.Errorf("wrote %d bytes, want %d (5 non-zero pages)", n, 5*PageSize)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(FileSize(ranges...)) {
		t.Errorf("file size %d, want %d", st.Size, FileSize(ranges...))
	}
	if alloc := st.Blocks * 512; alloc > 64*PageSize {
		t.Errorf("file allocates %d bytes: not sparse", alloc)
	}
	f.Close()

	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewFile(f, ranges...)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, reg := range m.Regions() {
		got, err := r.Slice(reg.Base, uint64(len(reg.Host)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, reg.Host) {
			t.Errorf("region at %#x differs after the round trip", uint64(reg.Base))
		}
	}
	// MAP_PRIVATE: writes stay in the mapping.
	if err := r.PutUint8(0x10, 99); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if b[0x10] != 1 {
		t.Errorf("a guest write reached the memory file")
	}
}

func TestNewFileWrongSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mem")
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	if _, err := NewFile(f, Range{Base: 0, Size: 1 << 20}); err == nil {
		t.Fatal("a truncated memory file was mapped")
	}
}
