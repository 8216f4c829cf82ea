package devices

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Range is one device's place on a bus: [Base, Base+Size).
type Range struct {
	Name string
	Base uint64
	Size uint64
}

// last is the range's last address; Insert guarantees Size > 0 and no wrap.
func (r Range) last() uint64 { return r.Base + (r.Size - 1) }

func (r Range) span() string { return fmt.Sprintf("[%#x..%#x]", r.Base, r.last()) }

// entry is a range and the device that answers it.
type entry struct {
	Range
	end uint64 // Range.last(), cached for the lookup
	dev Device
}

// Bus maps address ranges to devices and dispatches accesses by address.
// The zero value is an empty, usable bus with no name; NewBus names it for
// error messages.
//
// Concurrency: Read and Write may be called from any number of goroutines at
// once and never block. Insert may be called at any time, also concurrently
// with accesses: the range table is copy-on-write — Insert builds a new
// sorted table under mu and publishes it with one atomic store, so an access
// sees the table either before or after an Insert, never half of one. In
// practice the VMM inserts every device before the first vCPU runs. Devices
// do their own locking (Device).
type Bus struct {
	name  string
	mu    sync.Mutex              // serialises Insert; Read and Write never take it
	table atomic.Pointer[[]entry] // sorted by Base, non-overlapping; nil = empty
}

// NewBus returns an empty bus; name appears in error messages ("pio", "mmio").
func NewBus(name string) *Bus { return &Bus{name: name} }

// Name returns the name given to NewBus.
func (b *Bus) Name() string { return b.name }

// Insert puts d at [base, base+size) under name. It fails with an
// *OverlapError (errors.Is(err, ErrOverlap)) when the range intersects one
// already on the bus — adjacent ranges are fine — and with ErrBadRange for a
// zero size or a range that runs past 2^64.
func (b *Bus) Insert(base, size uint64, d Device, name string) error {
	r := Range{Name: name, Base: base, Size: size}
	switch {
	case d == nil:
		return fmt.Errorf("devices: bus %q: %s at %#x: %w", b.name, name, base, ErrNilDevice)
	case size == 0:
		return fmt.Errorf("devices: bus %q: %s at %#x: %w: size 0", b.name, name, base, ErrBadRange)
	case size-1 > math.MaxUint64-base:
		return fmt.Errorf("devices: bus %q: %s at %#x size %#x: %w: past the end of the address space",
			b.name, name, base, size, ErrBadRange)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	var old []entry
	if p := b.table.Load(); p != nil {
		old = *p
	}
	i := search(old, base) // first entry ending at or after base
	if i < len(old) && old[i].Base <= r.last() {
		return &OverlapError{Bus: b.name, New: r, Existing: old[i].Range}
	}
	t := make([]entry, 0, len(old)+1)
	t = append(t, old[:i]...)
	t = append(t, entry{Range: r, end: r.last(), dev: d})
	t = append(t, old[i:]...)
	b.table.Store(&t)
	return nil
}

// Ranges returns the bus's ranges in address order (diagnostics, tests).
func (b *Bus) Ranges() []Range {
	p := b.table.Load()
	if p == nil {
		return nil
	}
	rs := make([]Range, len(*p))
	for i, e := range *p {
		rs[i] = e.Range
	}
	return rs
}

// Read dispatches a read of len(data) bytes at addr to the device whose
// range holds all of [addr, addr+len(data)), passing the offset inside that
// range. It returns false, leaving data untouched, when no device holds the
// whole access — including an access that starts inside a device but runs
// past its end: it is not split, and not given to the device truncated. The
// caller decides what the guest reads then (0xff bytes) and counts it.
func (b *Bus) Read(addr uint64, data []byte) bool {
	e := b.find(addr, len(data))
	if e == nil {
		return false
	}
	e.dev.Read(addr-e.Base, data)
	return true
}

// Write is Read's counterpart: it returns false, and no device sees the
// data, when no device holds the whole of [addr, addr+len(data)).
func (b *Bus) Write(addr uint64, data []byte) bool {
	e := b.find(addr, len(data))
	if e == nil {
		return false
	}
	e.dev.Write(addr-e.Base, data)
	return true
}

// find returns the entry holding [addr, addr+n), or nil. It does not
// allocate. A zero-length access belongs to the device holding addr.
func (b *Bus) find(addr uint64, n int) *entry {
	p := b.table.Load()
	if p == nil {
		return nil
	}
	t := *p
	i := search(t, addr)
	if i == len(t) || t[i].Base > addr {
		return nil
	}
	e := &t[i]
	if n > 1 && uint64(n-1) > e.end-addr { // runs past the device's last byte
		return nil
	}
	return e
}

// search returns the index of the first entry whose last address is >= addr,
// or len(t). Entries are sorted and disjoint, so their ends are sorted too.
func search(t []entry, addr uint64) int {
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t[m].end < addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
