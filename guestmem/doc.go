// Package guestmem is the guest's physical memory as seen from the VMM.
//
// Every byte the VMM reads or writes in the guest goes through a *Memory, so
// boot structures, devices and virtqueues can be tested with plain byte
// slices and no KVM at all:
//
//	mem, err := guestmem.NewBytes(guestmem.Range{Base: 0, Size: 64 << 20})
//	if err != nil { ... }
//	if err := mem.WriteAt([]byte("hello"), 0x1000); err != nil { ... }
//	v, err := mem.Uint32(0x1000)
//
// Guest addresses are untrusted: every access is bounds- and overflow-checked
// and fails with an *AccessError (errors.Is(err, ErrOutOfRange)) instead of
// panicking. An access must lie inside one region; regions are never
// adjacent across the MMIO gap, so a contiguous guest buffer never spans two.
//
// This package is a leaf: it imports nothing of hull.
package guestmem
