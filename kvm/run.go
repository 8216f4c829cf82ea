package kvm

import (
	"errors"
	"fmt"
)

// sizeofRun is sizeof(struct kvm_run) on x86-64; minRunSize is the least
// mapping CreateVCPU accepts.
const (
	sizeofRun  = 2352
	minRunSize = sizeofRun
)

// ErrRunData is wrapped by the errors of Run.IO and Run.MMIO when the exit
// data in the kvm_run area is inconsistent (an offset or length outside the
// mapping, an impossible size). KVM never writes such values; a corrupted or
// synthetic page can.
var ErrRunData = errors.New("kvm: bad exit data in kvm_run")

// Run is a bounds-checked view of a vCPU's kvm_run area: the whole mapping of
// System.VCPUMmapSize bytes (the PIO data page follows kvm_run), or a
// synthetic page in tests. Nothing it returns can point outside the page, and
// no method panics, whatever the page holds; fields that lie beyond a short
// page read as zero.
//
// Read exit data only after VCPU.Run returned 0 and before the next Run.
// Slices returned by IO and MMIO alias the page: fill them to answer a read.
type Run struct {
	page []byte
	// word is the aligned uint32 at offset 0 (request_interrupt_window,
	// immediate_exit, padding), or nil when the page cannot hold one.
	word *uint32
}

// NewRun returns a view of page, a kvm_run area.
func NewRun(page []byte) *Run {
	return &Run{page: page, word: firstWord(page)}
}

func (r *Run) u8(off int) uint8 {
	if off < 0 || off >= len(r.page) {
		return 0
	}
	return r.page[off]
}

func (r *Run) u16(off int) uint16 {
	if off < 0 || off > len(r.page)-2 {
		return 0
	}
	return le.Uint16(r.page[off:])
}

func (r *Run) u32(off int) uint32 {
	if off < 0 || off > len(r.page)-4 {
		return 0
	}
	return le.Uint32(r.page[off:])
}

func (r *Run) u64(off int) uint64 {
	if off < 0 || off > len(r.page)-8 {
		return 0
	}
	return le.Uint64(r.page[off:])
}

// ExitReason returns kvm_run.exit_reason, one of the Exit* constants.
func (r *Run) ExitReason() uint32 { return r.u32(_KVM_RUN_exit_reason) }

// SetImmediateExit sets or clears kvm_run.immediate_exit: while set, KVM_RUN
// returns EINTR at once instead of entering the guest. It is an atomic
// read-modify-write of the aligned word holding the flag, so another
// goroutine may call it while the vCPU thread runs (then signal that thread
// to kick it out of a KVM_RUN already in progress).
func (r *Run) SetImmediateExit(on bool) { setByte1(r, on) }

// ImmediateExit reports whether kvm_run.immediate_exit is set.
func (r *Run) ImmediateExit() bool { return loadByte1(r) != 0 }

// IOExit is the data of a KVM_EXIT_IO exit.
type IOExit struct {
	Direction uint8  // ExitIOIn or ExitIOOut
	Size      uint8  // bytes per element: 1, 2 or 4
	Port      uint16 // I/O port
	Count     uint32 // elements (more than 1 for rep ins/outs)
	// Data is Size*Count bytes inside the run area: the values written for
	// ExitIOOut, the buffer to fill for ExitIOIn.
	Data []byte
}

// IO decodes a KVM_EXIT_IO exit. It fails (wrapping ErrRunData) when the
// direction or size is impossible or Data would not lie inside the page.
func (r *Run) IO() (IOExit, error) {
	if len(r.page) < _KVM_RUN_io_data_offset+8 {
		return IOExit{}, fmt.Errorf("%w: run area of %d bytes has no io exit", ErrRunData, len(r.page))
	}
	io := IOExit{
		Direction: r.u8(_KVM_RUN_io_direction),
		Size:      r.u8(_KVM_RUN_io_size),
		Port:      r.u16(_KVM_RUN_io_port),
		Count:     r.u32(_KVM_RUN_io_count),
	}
	off := r.u64(_KVM_RUN_io_data_offset)
	if io.Direction != ExitIOIn && io.Direction != ExitIOOut {
		return IOExit{}, fmt.Errorf("%w: io direction %d", ErrRunData, io.Direction)
	}
	switch io.Size {
	case 1, 2, 4:
	default:
		return IOExit{}, fmt.Errorf("%w: io size %d on port %#x", ErrRunData, io.Size, io.Port)
	}
	if io.Count == 0 {
		return IOExit{}, fmt.Errorf("%w: io count 0 on port %#x", ErrRunData, io.Port)
	}
	n := uint64(io.Size) * uint64(io.Count) // at most 4*(2^32-1): no overflow
	if size := uint64(len(r.page)); off > size || n > size-off {
		return IOExit{}, fmt.Errorf("%w: io data [%#x, +%d) on port %#x outside the %d-byte run area",
			ErrRunData, off, n, io.Port, size)
	}
	io.Data = r.page[off : off+n : off+n]
	return io, nil
}

// MMIOExit is the data of a KVM_EXIT_MMIO exit.
type MMIOExit struct {
	PhysAddr uint64
	// Data is the access's len (1..8) bytes inside the run area: the value
	// written, or the buffer to fill for a read.
	Data    []byte
	IsWrite bool
}

// MMIO decodes a KVM_EXIT_MMIO exit. It fails (wrapping ErrRunData) when len
// is 0 or above 8.
func (r *Run) MMIO() (MMIOExit, error) {
	if len(r.page) < _KVM_RUN_mmio_is_write+1 {
		return MMIOExit{}, fmt.Errorf("%w: run area of %d bytes has no mmio exit", ErrRunData, len(r.page))
	}
	addr := r.u64(_KVM_RUN_mmio_phys_addr)
	n := r.u32(_KVM_RUN_mmio_len)
	if n == 0 || n > _KVM_RUN_mmio_max {
		return MMIOExit{}, fmt.Errorf("%w: mmio length %d at %#x", ErrRunData, n, addr)
	}
	end := _KVM_RUN_mmio_data + int(n)
	return MMIOExit{
		PhysAddr: addr,
		Data:     r.page[_KVM_RUN_mmio_data:end:end],
		IsWrite:  r.u8(_KVM_RUN_mmio_is_write) != 0,
	}, nil
}

// InternalErrorExit is the data of a KVM_EXIT_INTERNAL_ERROR exit.
type InternalErrorExit struct {
	Suberror uint32   // InternalError* constant
	Data     []uint64 // internal.data[:ndata], ndata clamped to 16
}

// InternalError decodes a KVM_EXIT_INTERNAL_ERROR exit.
func (r *Run) InternalError() InternalErrorExit {
	return InternalErrorExit{
		Suberror: r.u32(_KVM_RUN_internal_suberror),
		Data:     r.u64s(_KVM_RUN_internal_data, r.u32(_KVM_RUN_internal_ndata)),
	}
}

// SystemEventExit is the data of a KVM_EXIT_SYSTEM_EVENT exit.
type SystemEventExit struct {
	Type uint32   // SystemEvent* constant
	Data []uint64 // system_event.data[:ndata], ndata clamped to 16
}

// SystemEvent decodes a KVM_EXIT_SYSTEM_EVENT exit.
func (r *Run) SystemEvent() SystemEventExit {
	return SystemEventExit{
		Type: r.u32(_KVM_RUN_system_event_type),
		Data: r.u64s(_KVM_RUN_system_event_data, r.u32(_KVM_RUN_system_event_ndata)),
	}
}

// FailEntry decodes a KVM_EXIT_FAIL_ENTRY exit: the hardware entry failure
// reason (VMX exit reason / SVM exit code) and the host CPU.
func (r *Run) FailEntry() (reason uint64, cpu uint32) {
	return r.u64(_KVM_RUN_fail_entry_reason), r.u32(_KVM_RUN_fail_entry_cpu)
}

// u64s copies n (clamped to 16 and to the page) uint64s from off.
func (r *Run) u64s(off int, n uint32) []uint64 {
	if n > _KVM_RUN_data_max {
		n = _KVM_RUN_data_max
	}
	if room := (len(r.page) - off) / 8; room < int(n) {
		n = uint32(max(room, 0))
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = r.u64(off + 8*i)
	}
	return out
}
