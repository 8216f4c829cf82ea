// SAFETY: firstWord returns a *uint32 only when the page holds at least four
// bytes and its first byte is 4-byte aligned, so the pointer covers exactly
// page[0:4] and atomic operations on it are valid on amd64. The page is
// either Go memory (kept alive by the pointer) or the vCPU's kvm_run mapping,
// which VCPU.Close unmaps only after its users have stopped (documented
// there). Byte 1 of that little-endian word is kvm_run.immediate_exit;
// byte 0 (request_interrupt_window) and the padding are preserved by the
// compare-and-swap loop.

package kvm

import (
	"sync/atomic"
	"unsafe"
)

// firstWord returns the aligned word at page[0:4], or nil.
func firstWord(page []byte) *uint32 {
	if len(page) < 4 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(page))
	if uintptr(p)%4 != 0 {
		return nil
	}
	return (*uint32)(p)
}

// immediateExitShift is the bit position of byte 1 (immediate_exit) in the
// little-endian word at offset 0.
const immediateExitShift = 8 * _KVM_RUN_immediate_exit

// setByte1 sets kvm_run.immediate_exit to 1 or 0 atomically. Without an
// aligned word (short or misaligned synthetic pages) it stores the byte plainly.
func setByte1(r *Run, on bool) {
	var v uint32
	if on {
		v = 1
	}
	if r.word == nil {
		if len(r.page) > _KVM_RUN_immediate_exit {
			r.page[_KVM_RUN_immediate_exit] = uint8(v)
		}
		return
	}
	for {
		old := atomic.LoadUint32(r.word)
		nw := old&^(0xff<<immediateExitShift) | v<<immediateExitShift
		if old == nw || atomic.CompareAndSwapUint32(r.word, old, nw) {
			return
		}
	}
}

// loadByte1 atomically reads kvm_run.immediate_exit.
func loadByte1(r *Run) uint8 {
	if r.word == nil {
		return r.u8(_KVM_RUN_immediate_exit)
	}
	return uint8(atomic.LoadUint32(r.word) >> immediateExitShift)
}
