package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32SyscallBit marks an x32 system call: x32 processes run with
// AUDIT_ARCH_X86_64 and set this bit in the number (__X32_SYSCALL_BIT).
const x32SyscallBit = 0x40000000

// nrSkip is the number a tracer writes to skip a system call (-1). Since
// Linux 4.8 the filter also runs after the tracer, so it sees this number;
// like libseccomp, the filter gives it the default action, never the
// bad-architecture one.
const nrSkip = 0xffffffff

// x32Overrides are the system calls numbered differently in x32 than in
// x86-64 (arch/x86/entry/syscalls/syscall_64.tbl, entries 512-547, "x32").
// Every other x32 system call uses its x86-64 number; all of them carry
// x32SyscallBit on the wire.
var x32Overrides = map[string]uint32{
	"rt_sigaction":      512,
	"rt_sigreturn":      513,
	"ioctl":             514,
	"readv":             515,
	"writev":            516,
	"recvfrom":          517,
	"sendmsg":           518,
	"recvmsg":           519,
	"execve":            520,
	"ptrace":            521,
	"rt_sigpending":     522,
	"rt_sigtimedwait":   523,
	"rt_sigqueueinfo":   524,
	"sigaltstack":       525,
	"timer_create":      526,
	"mq_notify":         527,
	"kexec_load":        528,
	"waitid":            529,
	"set_robust_list":   530,
	"get_robust_list":   531,
	"vmsplice":          532,
	"move_pages":        533,
	"preadv":            534,
	"pwritev":           535,
	"rt_tgsigqueueinfo": 536,
	"recvmmsg":          537,
	"sendmmsg":          538,
	"process_vm_readv":  539,
	"process_vm_writev": 540,
	"setsockopt":        541,
	"getsockopt":        542,
	"io_setup":          543,
	"io_submit":         544,
	"execveat":          545,
	"preadv2":           546,
	"pwritev2":          547,
}

// abi is one system call ABI the filter can recognise.
type abi struct {
	name string // for messages
	// auditArch is what seccomp_data.arch holds for it.
	auditArch uint32
	// wide: arguments are compared as 64-bit values. False for i386,
	// whose arguments are 32-bit registers: only the low halves are
	// compared and rule values are truncated to 32 bits, as libseccomp
	// does on 32-bit architectures.
	wide bool
	// lookup returns the number of a system call on this ABI, as it
	// appears in seccomp_data.nr.
	lookup func(name string) (uint32, bool)
}

var (
	abiX86_64 = &abi{name: "x86_64", auditArch: unix.AUDIT_ARCH_X86_64, wide: true, lookup: lookupX86_64}
	abiX32    = &abi{name: "x32", auditArch: unix.AUDIT_ARCH_X86_64, wide: true, lookup: lookupX32}
	abiI386   = &abi{name: "x86", auditArch: unix.AUDIT_ARCH_I386, wide: false, lookup: lookupI386}
)

func lookupX86_64(name string) (uint32, bool) {
	nr, ok := syscallsX86_64[name]
	return nr, ok
}

func lookupI386(name string) (uint32, bool) {
	nr, ok := syscallsI386[name]
	return nr, ok
}

func lookupX32(name string) (uint32, bool) {
	if nr, ok := x32Overrides[name]; ok {
		return nr | x32SyscallBit, true
	}
	nr, ok := syscallsX86_64[name]
	return nr | x32SyscallBit, ok
}

// SyscallNumber returns the x86-64 number of a system call by its kernel
// name, and false for names this table does not know (such names are
// ignored by Compile, as libseccomp ignores names unknown on an
// architecture).
func SyscallNumber(name string) (uint32, bool) {
	return lookupX86_64(name)
}

// knownArches are the architecture names runc and libseccomp accept.
// Names of other CPU families are valid in a profile (Docker lists the arm
// ones next to the x86 ones) but can never match on an x86-64 kernel, so
// they add nothing to the filter.
var knownArches = map[specs.Arch]*abi{
	specs.ArchX86_64:      abiX86_64,
	specs.ArchX86:         abiI386,
	specs.ArchX32:         abiX32,
	specs.ArchARM:         nil,
	specs.ArchAARCH64:     nil,
	specs.ArchMIPS:        nil,
	specs.ArchMIPS64:      nil,
	specs.ArchMIPS64N32:   nil,
	specs.ArchMIPSEL:      nil,
	specs.ArchMIPSEL64:    nil,
	specs.ArchMIPSEL64N32: nil,
	specs.ArchPPC:         nil,
	specs.ArchPPC64:       nil,
	specs.ArchPPC64LE:     nil,
	specs.ArchS390:        nil,
	specs.ArchS390X:       nil,
	specs.ArchPARISC:      nil,
	specs.ArchPARISC64:    nil,
	specs.ArchRISCV64:     nil,
	specs.ArchLOONGARCH64: nil,
	specs.ArchM68K:        nil,
	specs.ArchSH:          nil,
	specs.ArchSHEB:        nil,
}

// abis returns the ABIs the filter accepts: x86-64 always (the native one,
// as libseccomp always adds it), plus i386 and x32 when listed, in a fixed
// order.
func abis(list []specs.Arch) ([]*abi, error) {
	var i386, x32 bool
	for _, a := range list {
		t, ok := knownArches[a]
		if !ok {
			return nil, fmt.Errorf("%w: unknown architecture %q", ErrInvalid, a)
		}
		switch t {
		case abiI386:
			i386 = true
		case abiX32:
			x32 = true
		}
	}
	out := []*abi{abiX86_64}
	if x32 {
		out = append(out, abiX32)
	}
	if i386 {
		out = append(out, abiI386)
	}
	return out, nil
}
