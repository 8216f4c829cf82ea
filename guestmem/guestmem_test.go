package guestmem

import (
	"bytes"
	"errors"
	"math"
	"sync"
	"testing"
)

func twoRegions(t testing.TB) *Memory {
	t.Helper()
	m, err := NewBytes(Range{Base: 0x100000000, Size: 0x2000}, Range{Base: 0, Size: 0x3000})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewRejectsBadRanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ranges []Range
	}{
		{"none", nil},
		{"empty", []Range{{Base: 0, Size: 0}}},
		{"wrap", []Range{{Base: math.MaxUint64 - 10, Size: 100}}},
		{"overlap", []Range{{Base: 0, Size: 0x2000}, {Base: 0x1000, Size: 0x1000}}},
		{"same", []Range{{Base: 0x1000, Size: 0x1000}, {Base: 0x1000, Size: 0x1000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewBytes(tc.ranges...); err == nil {
				t.Fatalf("NewBytes(%v) succeeded", tc.ranges)
			}
			if _, err := NewMmap(tc.ranges...); err == nil {
				t.Fatalf("NewMmap(%v) succeeded", tc.ranges)
			}
		})
	}
	if _, err := NewBytes(Range{Base: 0, Size: 0x1000}, Range{Base: 0x1000, Size: 0x1000}); err != nil {
		t.Fatalf("adjacent ranges rejected: %v", err)
	}
}

func TestRegionsSortedAndSize(t *testing.T) {
	m := twoRegions(t)
	r := m.Regions()
	if len(r) != 2 || r[0].Base != 0 || r[1].Base != 0x100000000 {
		t.Fatalf("regions not sorted: %+v", r)
	}
	if m.Size() != 0x5000 {
		t.Fatalf("Size = %#x, want 0x5000", m.Size())
	}
}

func TestBounds(t *testing.T) {
	m := twoRegions(t)
	for _, tc := range []struct {
		a  GPA
		n  uint64
		ok bool
	}{
		{0, 0x3000, true},
		{0x2fff, 1, true},
		{0x2fff, 2, false}, // runs past the end of the low region
		{0x3000, 0, true},  // empty access at the end is inside
		{0x3001, 0, false}, // empty access past the end is not
		{0x3000, 1, false}, // the gap
		{0x100000000, 0x2000, true},
		{0x100001fff, 1, true},
		{0x100001fff, 2, false},
		{0xffffffff, 2, false},            // straddles gap and high region
		{math.MaxUint64, 2, false},        // overflow
		{0x10, math.MaxUint64 - 1, false}, // overflow in length
	} {
		if got := m.Contains(tc.a, tc.n); got != tc.ok {
			t.Errorf("Contains(%#x, %#x) = %v, want %v", uint64(tc.a), tc.n, got, tc.ok)
		}
		_, err := m.Slice(tc.a, tc.n)
		if (err == nil) != tc.ok {
			t.Errorf("Slice(%#x, %#x) err = %v, want ok=%v", uint64(tc.a), tc.n, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Slice error %v does not match ErrOutOfRange", err)
		}
	}
}

func TestReadWriteAndErrors(t *testing.T) {
	m := twoRegions(t)
	if err := m.WriteAt([]byte("hull"), 0x100000ffe); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if err := m.ReadAt(got, 0x100000ffe); err != nil || string(got) != "hull" {
		t.Fatalf("ReadAt = %q, %v", got, err)
	}
	err := m.WriteAt([]byte("xx"), 0x2fff)
	var ae *AccessError
	if !errors.As(err, &ae) || ae.Op != "write" || ae.Addr != 0x2fff || ae.Len != 2 {
		t.Fatalf("WriteAt past end: err = %v", err)
	}
	if want := "guest memory write of 2 bytes at 0x2fff: outside guest RAM"; err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
	b, _ := m.Slice(0x2ffe, 2)
	if !bytes.Equal(b, []byte{0, 0}) {
		t.Fatalf("failed write changed memory: %x", b)
	}
	if cap(b) != 2 {
		t.Fatalf("Slice cap = %d: callers could append past the checked range", cap(b))
	}
}

func TestIntegers(t *testing.T) {
	m := twoRegions(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.PutUint8(0x10, 0xab))
	must(m.PutUint16(0x20, 0xbeef))
	must(m.PutUint32(0x30, 0xdeadbeef))
	must(m.PutUint64(0x40, 0x0123456789abcdef))
	raw, _ := m.Slice(0x20, 2)
	if raw[0] != 0xef || raw[1] != 0xbe {
		t.Fatalf("PutUint16 not little-endian: %x", raw)
	}
	if v, err := m.Uint8(0x10); err != nil || v != 0xab {
		t.Fatalf("Uint8 = %#x, %v", v, err)
	}
	if v, err := m.Uint16(0x20); err != nil || v != 0xbeef {
		t.Fatalf("Uint16 = %#x, %v", v, err)
	}
	if v, err := m.Uint32(0x30); err != nil || v != 0xdeadbeef {
		t.Fatalf("Uint32 = %#x, %v", v, err)
	}
	if v, err := m.Uint64(0x40); err != nil || v != 0x0123456789abcdef {
		t.Fatalf("Uint64 = %#x, %v", v, err)
	}
	if _, err := m.Uint64(0x2ffc); err == nil {
		t.Fatal("Uint64 across the end succeeded")
	}
	if err := m.PutUint32(0x2ffe, 1); err == nil {
		t.Fatal("PutUint32 across the end succeeded")
	}
	must(m.Zero(0x30, 4))
	if v, _ := m.Uint32(0x30); v != 0 {
		t.Fatalf("Zero left %#x", v)
	}
	if err := m.Zero(0x2fff, 2); err == nil {
		t.Fatal("Zero across the end succeeded")
	}
}

func TestAtomicUint16(t *testing.T) {
	m := twoRegions(t)
	if err := m.PutUint64(0x100, 0x1111222233334444); err != nil {
		t.Fatal(err)
	}
	if err := m.StoreUint16Release(0x102, 0xabcd); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Uint64(0x100); v != 0x11112222abcd4444 {
		t.Fatalf("store touched neighbours: %#x", v)
	}
	for _, a := range []GPA{0x100, 0x102, 0x104, 0x106} {
		v, err := m.LoadUint16Acquire(a)
		want, _ := m.Uint16(a)
		if err != nil || v != want {
			t.Fatalf("LoadUint16Acquire(%#x) = %#x, %v; want %#x", uint64(a), v, err, want)
		}
	}
	if _, err := m.LoadUint16Acquire(0x101); err == nil {
		t.Fatal("unaligned atomic load succeeded")
	}
	if err := m.StoreUint16Release(0x3000, 1); err == nil {
		t.Fatal("atomic store outside RAM succeeded")
	}
	// Concurrent stores to both halves of one word must not lose updates.
	var wg sync.WaitGroup
	for i, a := range []GPA{0x200, 0x202} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 1000; n++ {
				if err := m.StoreUint16Release(a, uint16(i*0x1000+n)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	lo, _ := m.Uint16(0x200)
	hi, _ := m.Uint16(0x202)
	if lo != 999 || hi != 0x1000+999 {
		t.Fatalf("lost update: lo=%#x hi=%#x", lo, hi)
	}
}

func TestMmap(t *testing.T) {
	m, err := NewMmap(Range{Base: 0, Size: 1 << 20}, Range{Base: 1 << 32, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.PutUint32(1<<32+8, 7); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Uint32(1<<32 + 8); err != nil || v != 7 {
		t.Fatalf("Uint32 = %d, %v", v, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Uint32(8); err == nil {
		t.Fatal("access after Close succeeded")
	}
}

func FuzzAccess(f *testing.F) {
	f.Add(uint64(0), uint64(4), uint16(0))
	f.Add(uint64(0x2fff), uint64(2), uint16(1))
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64), uint16(2))
	f.Fuzz(func(t *testing.T, a, n uint64, op uint16) {
		m := twoRegions(t)
		inside := m.Contains(GPA(a), n)
		var err error
		switch op % 4 {
		case 0:
			_, err = m.Slice(GPA(a), n)
		case 1:
			if n > 1<<16 {
				n = 1 << 16
				inside = m.Contains(GPA(a), n)
			}
			err = m.ReadAt(make([]byte, n), GPA(a))
		case 2:
			_, err = m.LoadUint16Acquire(GPA(a))
			inside = a%2 == 0 && m.Contains(GPA(a&^3), 4)
		case 3:
			err = m.Zero(GPA(a), n)
		}
		if inside != (err == nil) {
			t.Fatalf("op %d at %#x len %#x: inside=%v err=%v", op%4, a, n, inside, err)
		}
	})
}
