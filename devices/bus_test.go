package devices_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/hullvm/hull/devices"
	"github.com/hullvm/hull/devices/devicestest"
)

func TestInsertRanges(t *testing.T) {
	type ins struct {
		base, size uint64
		name       string
	}
	tests := []struct {
		name    string
		first   []ins // inserted first, must succeed
		try     ins
		wantErr error // nil: must succeed
	}{
		{"empty bus", nil, ins{0x3f8, 8, "a"}, nil},
		{"adjacent below", []ins{{0x100, 0x10, "a"}}, ins{0xf0, 0x10, "b"}, nil},
		{"adjacent above", []ins{{0x100, 0x10, "a"}}, ins{0x110, 0x10, "b"}, nil},
		{"between two", []ins{{0x100, 0x10, "a"}, {0x120, 0x10, "c"}}, ins{0x110, 0x10, "b"}, nil},
		{"up to 2^64", nil, ins{math.MaxUint64 - 0xfff, 0x1000, "top"}, nil},
		{"whole space", nil, ins{0, math.MaxUint64, "all"}, nil},
		{"last byte", nil, ins{math.MaxUint64, 1, "b"}, nil},
		{"same range", []ins{{0x100, 0x10, "a"}}, ins{0x100, 0x10, "b"}, devices.ErrOverlap},
		{"overlaps start", []ins{{0x100, 0x10, "a"}}, ins{0xf8, 0x10, "b"}, devices.ErrOverlap},
		{"overlaps end", []ins{{0x100, 0x10, "a"}}, ins{0x10f, 0x10, "b"}, devices.ErrOverlap},
		{"contained", []ins{{0x100, 0x10, "a"}}, ins{0x104, 2, "b"}, devices.ErrOverlap},
		{"contains", []ins{{0x100, 0x10, "a"}}, ins{0, 0x1000, "b"}, devices.ErrOverlap},
		{"spans two", []ins{{0x100, 0x10, "a"}, {0x200, 0x10, "c"}}, ins{0x108, 0x100, "b"}, devices.ErrOverlap},
		{"one byte into next", []ins{{0x100, 0x10, "a"}, {0x120, 0x10, "c"}}, ins{0x110, 0x11, "b"}, devices.ErrOverlap},
		{"zero size", nil, ins{0x100, 0, "z"}, devices.ErrBadRange},
		{"wraps", nil, ins{math.MaxUint64 - 0xf, 0x11, "w"}, devices.ErrBadRange},
		{"wraps far", nil, ins{0x1000, math.MaxUint64, "w"}, devices.ErrBadRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := devices.NewBus("test")
			for _, in := range tt.first {
				if err := b.Insert(in.base, in.size, &devicestest.Recorder{}, in.name); err != nil {
					t.Fatalf("setup Insert(%#x, %#x): %v", in.base, in.size, err)
				}
			}
			err := b.Insert(tt.try.base, tt.try.size, &devicestest.Recorder{}, tt.try.name)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Insert(%#x, %#x) = %v, want %v", tt.try.base, tt.try.size, err, tt.wantErr)
			}
			if err != nil && len(b.Ranges()) != len(tt.first) {
				t.Errorf("a failed Insert changed the bus: %v", b.Ranges())
			}
			if err == nil && len(b.Ranges()) != len(tt.first)+1 {
				t.Errorf("Ranges() = %v after a good Insert", b.Ranges())
			}
		})
	}
}

func TestOverlapErrorNamesBoth(t *testing.T) {
	b := devices.NewBus("pio")
	if err := b.Insert(0x3f8, 8, &devicestest.Recorder{}, "serial"); err != nil {
		t.Fatal(err)
	}
	err := b.Insert(0x3fc, 8, &devicestest.Recorder{}, "other")
	var oe *devices.OverlapError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v (%T), want *OverlapError", err, err)
	}
	want := devices.OverlapError{Bus: "pio",
		New:      devices.Range{Name: "other", Base: 0x3fc, Size: 8},
		Existing: devices.Range{Name: "serial", Base: 0x3f8, Size: 8}}
	if *oe != want {
		t.Errorf("OverlapError = %+v, want %+v", *oe, want)
	}
	for _, s := range []string{`"pio"`, "serial", "other", "0x3f8", "0x3ff", "0x3fc", "0x403"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not mention %s", err, s)
		}
	}
}

func TestInsertNilDevice(t *testing.T) {
	var b devices.Bus // zero value is usable
	if err := b.Insert(0, 1, nil, "nil"); !errors.Is(err, devices.ErrNilDevice) {
		t.Fatalf("Insert(nil) = %v", err)
	}
}

func TestRangesSorted(t *testing.T) {
	b := devices.NewBus("mmio")
	for _, base := range []uint64{0x5000, 0x1000, 0x3000, 0x2000, 0x4000} {
		if err := b.Insert(base, 0x1000, &devicestest.Recorder{}, fmt.Sprint(base)); err != nil {
			t.Fatal(err)
		}
	}
	rs := b.Ranges()
	for i := range rs {
		if want := uint64(i+1) * 0x1000; rs[i].Base != want {
			t.Fatalf("Ranges() = %v, not sorted", rs)
		}
	}
	if b.Name() != "mmio" {
		t.Errorf("Name() = %q", b.Name())
	}
}

func TestDispatch(t *testing.T) {
	b := devices.NewBus("test")
	lo := &devicestest.Recorder{ReadValue: 0x11}
	hi := &devicestest.Recorder{ReadValue: 0x22}
	top := &devicestest.Recorder{ReadValue: 0x33}
	for _, d := range []struct {
		base, size uint64
		dev        devices.Device
	}{{0x100, 0x10, lo}, {0x110, 0x10, hi}, {math.MaxUint64 - 7, 8, top}} {
		if err := b.Insert(d.base, d.size, d.dev, fmt.Sprint(d.base)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		addr    uint64
		n       int
		want    *devicestest.Recorder // nil: no device
		wantOff uint64
	}{
		{0x100, 1, lo, 0},
		{0x10f, 1, lo, 0xf},
		{0x10c, 4, lo, 0xc},
		{0x110, 1, hi, 0},
		{0x118, 8, hi, 8},
		{0x11f, 1, hi, 0xf},
		{0x100, 0, lo, 0},           // zero length: the device at addr
		{0x10d, 4, nil, 0},          // starts in lo, runs into hi
		{0x11d, 4, nil, 0},          // runs past hi's end
		{0x11f, 2, nil, 0},          // one byte past
		{0x120, 1, nil, 0},          // just past
		{0xff, 1, nil, 0},           // just before
		{0xfe, 4, nil, 0},           // starts before lo
		{0, 4096, nil, 0},           // big
		{0x100, 1 << 20, nil, 0},    // huge, from inside
		{math.MaxUint64, 1, top, 7}, // the last byte of the address space
		{math.MaxUint64 - 7, 8, top, 0},
		{math.MaxUint64, 2, nil, 0}, // would wrap
		{math.MaxUint64 - 3, 9, nil, 0},
	}
	for _, tt := range tests {
		data := make([]byte, tt.n)
		for i := range data {
			data[i] = 0xee
		}
		before := map[*devicestest.Recorder]int{lo: len(lo.Accesses()), hi: len(hi.Accesses()), top: len(top.Accesses())}

		gotR := b.Read(tt.addr, data)
		gotW := b.Write(tt.addr, data)
		if gotR != (tt.want != nil) || gotW != (tt.want != nil) {
			t.Errorf("access %#x+%d: Read %v Write %v, want %v", tt.addr, tt.n, gotR, gotW, tt.want != nil)
			continue
		}
		for rec, n := range before {
			acc := rec.Accesses()[n:]
			if rec != tt.want {
				if len(acc) != 0 {
					t.Errorf("access %#x+%d reached the wrong device: %v", tt.addr, tt.n, acc)
				}
				continue
			}
			if len(acc) != 2 || acc[0].Op != devicestest.Read || acc[1].Op != devicestest.Write ||
				acc[0].Off != tt.wantOff || acc[1].Off != tt.wantOff || len(acc[0].Data) != tt.n {
				t.Errorf("access %#x+%d: device saw %v, want read+write at %#x", tt.addr, tt.n, acc, tt.wantOff)
			}
		}
		if tt.want == nil {
			for _, c := range data {
				if c != 0xee {
					t.Errorf("access %#x+%d: a miss changed data", tt.addr, tt.n)
					break
				}
			}
		} else if tt.n > 0 && data[0] != tt.want.ReadValue {
			t.Errorf("access %#x+%d: read %#x", tt.addr, tt.n, data[0])
		}
	}
}

func TestEmptyBus(t *testing.T) {
	var b devices.Bus
	if b.Read(0, make([]byte, 1)) || b.Write(0, make([]byte, 1)) || b.Ranges() != nil {
		t.Fatal("empty bus claimed an access")
	}
}

// TestConcurrentAccess runs accesses from several goroutines while devices
// are still being inserted; -race checks the copy-on-write table.
func TestConcurrentAccess(t *testing.T) {
	b := devices.NewBus("test")
	const devs = 16
	recs := make([]*devicestest.Recorder, devs)
	for i := range recs {
		recs[i] = &devicestest.Recorder{ReadValue: byte(i)}
	}
	if err := b.Insert(0, 0x10, recs[0], "0"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i < devs; i++ {
			if err := b.Insert(uint64(i)*0x10, 0x10, recs[i], fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}
	})
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			data := make([]byte, 1)
			for i := 0; i < 2000; i++ {
				addr := uint64((i*7 + g) % (devs*0x10 + 8))
				if b.Read(addr, data) && data[0] != byte(addr/0x10) {
					t.Errorf("read %#x from device %d", addr, data[0])
					return
				}
				b.Write(addr, data)
			}
		})
	}
	wg.Wait()
	if n := len(b.Ranges()); n != devs {
		t.Fatalf("%d ranges, want %d", n, devs)
	}
}

type nopDevice struct{}

func (nopDevice) Read(uint64, []byte)  {}
func (nopDevice) Write(uint64, []byte) {}

// newBusN returns a bus with n one-page devices, like the MMIO bus with n
// virtio devices.
func newBusN(tb testing.TB, n int) *devices.Bus {
	b := devices.NewBus("bench")
	for i := 0; i < n; i++ {
		if err := b.Insert(0xc0000000+uint64(i)*0x1000, 0x1000, nopDevice{}, fmt.Sprint(i)); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

func TestBusLookupDoesNotAllocate(t *testing.T) {
	b := newBusN(t, 32)
	data := make([]byte, 4)
	allocs := testing.AllocsPerRun(1000, func() {
		b.Read(0xc0011004, data)
		b.Write(0xc0011004, data)
		b.Read(0x3f8, data) // miss
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per lookup, want 0", allocs)
	}
}

func BenchmarkBusRead(b *testing.B) {
	for _, n := range []int{4, 32} {
		b.Run(fmt.Sprint(n, "devices"), func(b *testing.B) {
			bus := newBusN(b, n)
			data := make([]byte, 4)
			addr := 0xc0000000 + uint64(n/2)*0x1000 + 0x50
			b.ReportAllocs()
			for b.Loop() {
				bus.Read(addr, data)
			}
		})
	}
}
