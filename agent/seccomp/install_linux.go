package seccomp

import (
	"fmt"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Install compiles s and loads it with seccomp(SECCOMP_SET_MODE_FILTER),
// with the flags the profile lists (SECCOMP_FILTER_FLAG_TSYNC, _LOG,
// _SPEC_ALLOW). A nil profile installs nothing.
//
// The caller must first set no_new_privs (prctl(PR_SET_NO_NEW_PRIVS, 1))
// or hold CAP_SYS_ADMIN; otherwise the kernel refuses with EACCES.
//
// A filter binds the calling thread only, and a Go program runs on several
// threads. So call Install on the goroutine that will execve the container
// process, locked to its thread (runtime.LockOSThread) until the exec, as
// late as possible before it: from then on every system call of that
// thread, execve included, goes through the filter. With
// SECCOMP_FILTER_FLAG_TSYNC in the profile the kernel applies the filter to
// every thread of the process at once instead (and fails if one of them
// has a diverging filter); then the rest of the Go runtime is filtered too.
func Install(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	if runtime.GOARCH != "amd64" {
		return ErrUnsupportedArch
	}
	prog, err := Compile(s)
	if err != nil {
		return err
	}
	flags, err := filterFlags(s.Flags)
	if err != nil {
		return err
	}
	return load(flags, prog)
}

// load is Install after compilation; the error keeps the errno.
func load(flags uintptr, prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return fmt.Errorf("%w: empty program", ErrInvalid)
	}
	r, errno := seccompSetModeFilter(flags, prog)
	switch {
	case errno == unix.EACCES:
		return &InstallError{Flags: flags, Errno: errno, Hint: "set no_new_privs first, or hold CAP_SYS_ADMIN"}
	case errno == unix.EINVAL && flags != 0:
		return &InstallError{Flags: flags, Errno: errno, Hint: "the kernel may not support these filter flags"}
	case errno != 0:
		return &InstallError{Flags: flags, Errno: errno}
	case flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0:
		return &InstallError{Flags: flags, Hint: fmt.Sprintf("thread %d could not be synchronised (TSYNC)", r)}
	}
	return nil
}

// InstallError is a failed seccomp(SECCOMP_SET_MODE_FILTER). errors.Is
// matches its Errno (e.g. unix.EACCES).
type InstallError struct {
	Flags uintptr
	Errno unix.Errno // 0 when the call returned a thread ID (TSYNC)
	Hint  string
}

func (e *InstallError) Error() string {
	msg := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, flags %#x)", e.Flags)
	if e.Errno != 0 {
		msg += ": " + e.Errno.Error()
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *InstallError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}
