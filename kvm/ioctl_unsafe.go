// SAFETY: every pointer handed to the kernel here points to Go memory at
// least as large as what the ioctl reads or writes: ioctlPtr checks that the
// size encoded in the ioctl number (bits 16..29) equals unsafe.Sizeof(T), and
// the mirrored T are pinned to the kernel's sizeof by const_test.go; ioctlBuf
// checks the buffer covers the encoded header size, and its callers size the
// buffer for the entry count they write into that header (the kernel never
// touches more than header + count entries), or, for KVM_GET/SET_XSAVE(2),
// at least the vCPU's KVM_CAP_XSAVE2 size (the most the kernel copies). The
// pointer is converted to uintptr inside the argument list of unix.Syscall
// (an assembly function), so the object is kept alive and unmoved for the
// call (unsafe.Pointer rule 4).
// sliceAddr is only used to tell KVM the address of memory the caller keeps
// mapped (see VM.SetUserMemoryRegion).

package kvm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// iocSize extracts the argument size from an ioctl number (_IOC_SIZE).
func iocSize(req uintptr) uintptr { return (req >> 16) & 0x3fff }

// ioctlPtr issues req with a pointer to *p, a struct mirroring the ioctl's argument.
func ioctlPtr[T any](fd int, req uintptr, p *T) (uintptr, unix.Errno) {
	if unsafe.Sizeof(*p) != iocSize(req) {
		return 0, unix.EINVAL // a mismatched mirror: never reaches the kernel
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(p)))
	return r, e
}

// ioctlBuf issues req with a pointer to buf, a variable-length argument
// (kvm_cpuid2, kvm_msrs, kvm_msr_list) laid out by the caller.
func ioctlBuf(fd int, req uintptr, buf []byte) (uintptr, unix.Errno) {
	if uintptr(len(buf)) < iocSize(req) {
		return 0, unix.EINVAL
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	return r, e
}

// sliceAddr returns the address of mem's first byte (0 for an empty slice).
func sliceAddr(mem []byte) uint64 {
	if len(mem) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
}
