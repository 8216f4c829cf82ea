// SAFETY: mincore reads the address range [&b[0], &b[0]+len(b)) only to look
// up its page-table entries (it never dereferences it) and writes exactly one
// byte per page of that range into vec; mincore checks that vec holds
// ceil(len(b)/pagesize) bytes before the call. Both pointers are converted to
// uintptr inside unix.Syscall's argument list, so the objects stay alive and
// unmoved for the call (unsafe.Pointer rule 4).

package vmm

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mincore wraps mincore(2) (x/sys/unix has no Linux wrapper): vec[i]&1 is
// set when page i of b is resident. b must start on a page boundary.
func mincore(b, vec []byte) unix.Errno {
	if len(b) == 0 {
		return 0
	}
	page := os.Getpagesize()
	if len(vec) < (len(b)+page-1)/page {
		return unix.EINVAL
	}
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	return e
}
