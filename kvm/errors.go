package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Error is a failed KVM ioctl. Op is the ioctl's kernel name
// ("KVM_SET_SREGS"); Errno is what the kernel returned. errors.Is(err,
// unix.EINTR) and friends see the Errno through Unwrap.
type Error struct {
	Op    string
	Errno unix.Errno
}

func (e *Error) Error() string { return e.Op + ": " + e.Errno.Error() }

// Unwrap returns the Errno.
func (e *Error) Unwrap() error { return e.Errno }

// wrap returns nil for errno 0 and an *Error otherwise.
func wrap(op string, errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return &Error{Op: op, Errno: errno}
}

// MSRError reports that KVM_GET_MSRS or KVM_SET_MSRS processed only Done of
// Total entries; Index is the first MSR not read or written.
type MSRError struct {
	Op    string
	Index uint32
	Done  int
	Total int
}

func (e *MSRError) Error() string {
	verb := "written"
	if e.Op == "KVM_GET_MSRS" {
		verb = "read"
	}
	return fmt.Sprintf("%s: MSR %#x not %s (%d of %d %s)", e.Op, e.Index, verb, e.Done, e.Total, verb)
}

// ErrClosed is returned by methods called on a closed System, VM or VCPU.
var ErrClosed = errors.New("kvm: use of closed handle")
