// SAFETY: addEntropy hands the kernel a pointer to a live Go slice of at
// least 8+len(b) bytes laid out as struct rand_pool_info (amd64:
// little-endian ints); the kernel reads buf_size bytes after the header and
// keeps no reference after the call. The pointer is converted to uintptr in
// unix.Syscall's argument list, which keeps the object alive for the call.

package agent

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// addEntropy adds b to the kernel's random pool through fd (/dev/random),
// crediting 8 bits per byte: struct rand_pool_info { int entropy_count;
// int buf_size; __u32 buf[]; }.
func addEntropy(fd int, b []byte) error {
	buf := make([]byte, 8+(len(b)+3)/4*4)
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(b)*8))
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(b)))
	copy(buf[8:], b)
	// See the SAFETY note at the top of the file.
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
