package guestmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// GPA is a guest physical address.
type GPA uint64

// Range is a span of guest physical address space.
type Range struct {
	Base GPA
	Size uint64
}

// End returns the first address past the range. It may overflow only for
// ranges that New* rejects.
func (r Range) End() GPA { return r.Base + GPA(r.Size) }

// Region is one contiguous block of guest RAM and the host memory backing it.
type Region struct {
	Base GPA
	Host []byte // len(Host) is the region's size
}

// ErrOutOfRange is matched (errors.Is) by every *AccessError.
var ErrOutOfRange = errors.New("guest address out of range")

// AccessError says which guest access failed.
type AccessError struct {
	Op   string // "read", "write", "slice"
	Addr GPA
	Len  uint64
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("guest memory %s of %d bytes at %#x: outside guest RAM", e.Op, e.Len, uint64(e.Addr))
}

// Unwrap lets errors.Is(err, ErrOutOfRange) match.
func (e *AccessError) Unwrap() error { return ErrOutOfRange }

// Memory is guest RAM made of one or more non-overlapping regions.
// Accesses from several goroutines are safe as far as the Go memory model goes
// for plain byte slices: callers order concurrent guest-visible updates with
// the atomic accessors.
type Memory struct {
	regions []Region
	unmap   func() error
}

// NewBytes returns guest memory backed by ordinary Go byte slices (tests).
func NewBytes(ranges ...Range) (*Memory, error) {
	if err := checkRanges(ranges); err != nil {
		return nil, err
	}
	m := &Memory{}
	for _, r := range sorted(ranges) {
		m.regions = append(m.regions, Region{Base: r.Base, Host: make([]byte, r.Size)})
	}
	return m, nil
}

func sorted(ranges []Range) []Range {
	s := append([]Range(nil), ranges...)
	sort.Slice(s, func(i, j int) bool { return s[i].Base < s[j].Base })
	return s
}

func checkRanges(ranges []Range) error {
	if len(ranges) == 0 {
		return errors.New("guestmem: no memory ranges")
	}
	s := sorted(ranges)
	for i, r := range s {
		if r.Size == 0 {
			return fmt.Errorf("guestmem: empty range at %#x", uint64(r.Base))
		}
		if r.End() < r.Base {
			return fmt.Errorf("guestmem: range at %#x of %#x bytes wraps the address space", uint64(r.Base), r.Size)
		}
		if uint64(int(r.Size)) != r.Size || int(r.Size) < 0 {
			return fmt.Errorf("guestmem: range of %#x bytes is too large for this host", r.Size)
		}
		if i > 0 && s[i-1].End() > r.Base {
			return fmt.Errorf("guestmem: ranges [%#x,%#x) and [%#x,%#x) overlap",
				uint64(s[i-1].Base), uint64(s[i-1].End()), uint64(r.Base), uint64(r.End()))
		}
	}
	return nil
}

// Regions returns the regions in ascending address order. The host slices
// alias guest memory (the VMM hands them to KVM as memory slots).
func (m *Memory) Regions() []Region { return m.regions }

// Size returns the total bytes of guest RAM.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.regions {
		n += uint64(len(r.Host))
	}
	return n
}

// Close releases mmap-backed memory. The Memory must not be used afterwards.
func (m *Memory) Close() error {
	if m.unmap == nil {
		return nil
	}
	err := m.unmap()
	m.unmap = nil
	m.regions = nil
	return err
}

// find returns the host bytes for [a, a+n) or nil when any byte lies outside
// a single region or the range overflows.
func (m *Memory) find(a GPA, n uint64) []byte {
	end := uint64(a) + n
	if end < uint64(a) {
		return nil
	}
	for i := range m.regions {
		r := &m.regions[i]
		if a < r.Base {
			continue
		}
		off := uint64(a - r.Base)
		size := uint64(len(r.Host))
		if off > size || n > size-off {
			continue
		}
		return r.Host[off : off+n : off+n]
	}
	return nil
}

// Contains reports whether [a, a+n) lies inside one region of guest RAM.
func (m *Memory) Contains(a GPA, n uint64) bool { return m.find(a, n) != nil }

// Slice returns the host bytes that back [a, a+n). The slice aliases guest
// memory: the guest may change it at any time, so parse a copy of anything
// that is validated before use.
func (m *Memory) Slice(a GPA, n uint64) ([]byte, error) {
	b := m.find(a, n)
	if b == nil {
		return nil, &AccessError{Op: "slice", Addr: a, Len: n}
	}
	return b, nil
}

// ReadAt copies len(p) bytes of guest memory at a into p.
func (m *Memory) ReadAt(p []byte, a GPA) error {
	b := m.find(a, uint64(len(p)))
	if b == nil {
		return &AccessError{Op: "read", Addr: a, Len: uint64(len(p))}
	}
	copy(p, b)
	return nil
}

// WriteAt copies p into guest memory at a.
func (m *Memory) WriteAt(p []byte, a GPA) error {
	b := m.find(a, uint64(len(p)))
	if b == nil {
		return &AccessError{Op: "write", Addr: a, Len: uint64(len(p))}
	}
	copy(b, p)
	return nil
}

// Zero clears n bytes at a.
func (m *Memory) Zero(a GPA, n uint64) error {
	b := m.find(a, n)
	if b == nil {
		return &AccessError{Op: "write", Addr: a, Len: n}
	}
	clear(b)
	return nil
}

// Uint8 reads one byte.
func (m *Memory) Uint8(a GPA) (uint8, error) {
	b, err := m.get(a, 1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// Uint16 reads a little-endian uint16.
func (m *Memory) Uint16(a GPA) (uint16, error) {
	b, err := m.get(a, 2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

// Uint32 reads a little-endian uint32.
func (m *Memory) Uint32(a GPA) (uint32, error) {
	b, err := m.get(a, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// Uint64 reads a little-endian uint64.
func (m *Memory) Uint64(a GPA) (uint64, error) {
	b, err := m.get(a, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// PutUint8 writes one byte.
func (m *Memory) PutUint8(a GPA, v uint8) error {
	b, err := m.put(a, 1)
	if err != nil {
		return err
	}
	b[0] = v
	return nil
}

// PutUint16 writes a little-endian uint16.
func (m *Memory) PutUint16(a GPA, v uint16) error {
	b, err := m.put(a, 2)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint16(b, v)
	return nil
}

// PutUint32 writes a little-endian uint32.
func (m *Memory) PutUint32(a GPA, v uint32) error {
	b, err := m.put(a, 4)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b, v)
	return nil
}

// PutUint64 writes a little-endian uint64.
func (m *Memory) PutUint64(a GPA, v uint64) error {
	b, err := m.put(a, 8)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b, v)
	return nil
}

func (m *Memory) get(a GPA, n uint64) ([]byte, error) {
	if b := m.find(a, n); b != nil {
		return b, nil
	}
	return nil, &AccessError{Op: "read", Addr: a, Len: n}
}

func (m *Memory) put(a GPA, n uint64) ([]byte, error) {
	if b := m.find(a, n); b != nil {
		return b, nil
	}
	return nil, &AccessError{Op: "write", Addr: a, Len: n}
}
