package boot

import "errors"

// Sentinel errors. Every error this package returns wraps one of them (or a
// *guestmem.AccessError for a write that should have been impossible after
// validation) with a one-line detail naming the thing at fault; match them
// with errors.Is.
var (
	// ErrConfig: a Config field is unusable (no kernel, negative initrd
	// size, initrd size without a reader).
	ErrConfig = errors.New("invalid boot configuration")
	// ErrMemorySize: MemoryRanges was asked for an unusable amount of RAM.
	ErrMemorySize = errors.New("unusable guest memory size")
	// ErrMemoryLayout: the *guestmem.Memory given to Setup does not fit the
	// guest memory map (low memory missing, RAM inside the MMIO gap, ...).
	ErrMemoryLayout = errors.New("guest memory does not fit the boot memory map")
	// ErrNotELF: the kernel is not an x86-64 ELF64 executable (a bzImage, an
	// ELF32 file, another architecture, ...).
	ErrNotELF = errors.New("not an x86-64 ELF64 executable")
	// ErrBadELF: the kernel is an ELF64 file but its headers are malformed.
	ErrBadELF = errors.New("malformed ELF file")
	// ErrSegmentOutsideRAM: a PT_LOAD segment does not lie in guest RAM at
	// or above HighMemStart, outside the MMIO gap.
	ErrSegmentOutsideRAM = errors.New("ELF segment outside guest RAM")
	// ErrCmdlineTooLong: the command line does not fit CmdlineMax.
	ErrCmdlineTooLong = errors.New("kernel command line too long")
	// ErrBadCmdline: the command line holds a NUL byte, which would end it
	// early without anyone noticing.
	ErrBadCmdline = errors.New("invalid kernel command line")
	// ErrInitrdTooLarge: the initrd does not fit between the kernel and the
	// top of low RAM.
	ErrInitrdTooLarge = errors.New("initrd too large")
	// ErrCPUCount: a vCPU count outside 1..MaxCPUs (Config.CPUs,
	// WriteMPTable).
	ErrCPUCount = errors.New("vCPU count out of range")
)
