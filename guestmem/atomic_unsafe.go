package guestmem

// SAFETY: the pointers formed here point into a region's host slice, after
// find has checked that the whole naturally aligned 4-byte word lies inside
// that slice; Go slices from make or mmap are at least 8-byte aligned, so a
// word aligned in guest address space is aligned in host memory too (region
// bases are page aligned by the VMM; tests use base 0 or aligned bases).

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

func (m *Memory) word(a GPA, op string) (*uint32, uint, error) {
	if a%2 != 0 {
		return nil, 0, fmt.Errorf("guest memory atomic %s at %#x: not 2-byte aligned: %w", op, uint64(a), ErrOutOfRange)
	}
	wa := a &^ 3
	b := m.find(wa, 4)
	if b == nil || uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, 0, &AccessError{Op: op, Addr: a, Len: 2}
	}
	return (*uint32)(unsafe.Pointer(&b[0])), uint(a-wa) * 8, nil
}

// LoadUint16Acquire atomically loads the little-endian uint16 at a (2-byte
// aligned). Go's atomics are sequentially consistent, so this is at least an
// acquire load: reads issued after it see what the guest wrote before it.
func (m *Memory) LoadUint16Acquire(a GPA) (uint16, error) {
	p, shift, err := m.word(a, "read")
	if err != nil {
		return 0, err
	}
	return uint16(atomic.LoadUint32(p) >> shift), nil
}

// StoreUint16Release atomically stores v at a (2-byte aligned), after every
// earlier write of this goroutine became visible (release).
func (m *Memory) StoreUint16Release(a GPA, v uint16) error {
	p, shift, err := m.word(a, "write")
	if err != nil {
		return err
	}
	mask := uint32(0xffff) << shift
	for {
		old := atomic.LoadUint32(p)
		nw := old&^mask | uint32(v)<<shift
		if atomic.CompareAndSwapUint32(p, old, nw) {
			return nil
		}
	}
}
