package container

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrUnsupported: the config asks for something this package does not
// do (a user namespace joined by path, idmapped mounts, ...). The error
// that wraps it names the feature.
var ErrUnsupported = errors.New("not supported")

// ErrExited: the process has exited (and been reaped), so it can no
// longer be signalled or joined. It wraps unix.ESRCH.
var ErrExited = fmt.Errorf("process has exited: %w", unix.ESRCH)

// ErrStarted: Start was called twice.
var ErrStarted = errors.New("container already started")

// unsupported builds an error wrapping ErrUnsupported.
func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// InitError is an error the init half reported (set-up, hooks, or the
// final exec). Errno is the system error behind it, if any, so
// errors.Is(err, unix.ENOENT) works across the process boundary.
type InitError struct {
	Msg   string
	Errno unix.Errno
}

func (e *InitError) Error() string { return e.Msg }

// Unwrap returns the errno, or nil.
func (e *InitError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}
