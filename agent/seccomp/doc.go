// Package seccomp compiles an OCI seccomp profile (specs.LinuxSeccomp) into
// a classic BPF program and installs it, in pure Go: no cgo, no libseccomp.
//
//	// on the goroutine that will exec the container process
//	runtime.LockOSThread()
//	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil { ... }
//	if err := seccomp.Install(spec.Linux.Seccomp); err != nil { ... }
//	err := unix.Exec(path, argv, env) // filtered from here on
//
// Compile alone gives the program ([]unix.SockFilter) without installing
// it; the tests run it through a small BPF interpreter against a direct
// evaluation of the profile.
//
// What the profile means is documented on Compile: it follows runc with
// libseccomp, including runc's ENOSYS answer for system calls newer than the
// profile. System call numbers come from zsyscalls.go, generated from
// golang.org/x/sys/unix (x86-64 and i386; x32 is x86-64 plus the renumbered
// calls in arch.go). Only x86-64 hosts are supported.
package seccomp

//go:generate go run mksyscalls.go
