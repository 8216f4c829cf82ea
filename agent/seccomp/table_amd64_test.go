package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestSyscallTable checks the generated table against the SYS_* constants
// this build of golang.org/x/sys/unix uses (amd64 only).
func TestSyscallTable(t *testing.T) {
	for name, want := range map[string]uint32{
		"read": unix.SYS_READ, "getcwd": unix.SYS_GETCWD, "mkdirat": unix.SYS_MKDIRAT,
		"lseek": unix.SYS_LSEEK, "clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
		"execve": unix.SYS_EXECVE, "seccomp": unix.SYS_SECCOMP, "_sysctl": unix.SYS__SYSCTL,
		"newfstatat": unix.SYS_NEWFSTATAT, "io_uring_setup": unix.SYS_IO_URING_SETUP,
		"openat2": unix.SYS_OPENAT2, "exit_group": unix.SYS_EXIT_GROUP, "personality": unix.SYS_PERSONALITY,
	} {
		if got, ok := SyscallNumber(name); !ok || got != want {
			t.Errorf("SyscallNumber(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := SyscallNumber("socketcall"); ok {
		t.Error("socketcall is an i386 system call, not x86-64")
	}
	if n := len(syscallsX86_64); n < 360 {
		t.Errorf("x86-64 table has %d entries", n)
	}
	if n := len(syscallsI386); n < 430 {
		t.Errorf("i386 table has %d entries", n)
	}
	for name, nr := range x32Overrides {
		if _, ok := syscallsX86_64[name]; !ok {
			t.Errorf("x32 override %q (%d) is not an x86-64 system call", name, nr)
		}
		if nr < 512 || nr > 547 {
			t.Errorf("x32 override %q = %d outside 512-547", name, nr)
		}
	}
	if len(x32Overrides) != 36 {
		t.Errorf("%d x32 overrides, want 36 (512-547)", len(x32Overrides))
	}
}
