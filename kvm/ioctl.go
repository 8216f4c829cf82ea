package kvm

import "golang.org/x/sys/unix"

// ioctlVal issues req with an integer argument (the _IO ioctls).
func ioctlVal(fd int, req, arg uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	return r, e
}
