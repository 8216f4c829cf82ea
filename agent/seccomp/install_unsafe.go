package seccomp

// SAFETY: seccompSetModeFilter passes the kernel a pointer to a sock_fprog
// on this goroutine's stack, which points at the first element of prog. The
// kernel reads both only during the call (it copies the program), prog is
// non-empty (checked by load) and its length fits the u16 len field
// (Compile caps programs at BPF_MAXINSNS = 4096), and both are kept alive
// until the call returns with runtime.KeepAlive.

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompSetModeFilter is seccomp(SECCOMP_SET_MODE_FILTER, flags, &fprog).
// It returns the raw result (a thread ID when TSYNC fails) and the errno.
func seccompSetModeFilter(flags uintptr, prog []unix.SockFilter) (uintptr, unix.Errno) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(&fprog)
	runtime.KeepAlive(prog)
	return r, errno
}
