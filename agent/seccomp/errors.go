package seccomp

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid: the profile is malformed (unknown action, operator,
	// architecture or flag; argument index above 5; errnoRet on an action
	// that takes none; an empty system call name). The error text names
	// the offending entry.
	ErrInvalid = errors.New("invalid seccomp profile")

	// ErrNotifyUnsupported: the profile uses SCMP_ACT_NOTIFY, which needs
	// a seccomp agent hull does not provide. It wraps errors.ErrUnsupported.
	ErrNotifyUnsupported = fmt.Errorf("seccomp: SCMP_ACT_NOTIFY (user-space notification) is not supported by hull: %w", errors.ErrUnsupported)

	// ErrTooLarge: the compiled program exceeds BPF_MAXINSNS instructions.
	ErrTooLarge = errors.New("seccomp: compiled filter is too large")

	// ErrUnsupportedArch: Install was called on a host that is not
	// x86-64; the compiler only knows the x86 system call tables. It wraps
	// errors.ErrUnsupported.
	ErrUnsupportedArch = fmt.Errorf("seccomp: filters are only compiled for x86-64 hosts: %w", errors.ErrUnsupported)
)
