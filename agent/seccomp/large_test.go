package seccomp

import (
	"errors"
	"slices"
	"sort"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// allNames returns every system call name the tables know (x86-64 and
// i386), sorted.
func allNames() []string {
	set := map[string]bool{}
	for n := range syscallsX86_64 {
		set[n] = true
	}
	for n := range syscallsI386 {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// dockerLike is shaped like Docker's default profile, but larger: default
// ERRNO, x86-64 + x86 + x32, one allow entry naming every known system
// call except the ones Docker blocks (about 460 names on top of Docker's
// ~370), and Docker's conditional rules.
func dockerLike() *specs.LinuxSeccomp {
	blocked := map[string]bool{}
	for _, n := range []string{
		"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "clone", "clone3", "create_module",
		"delete_module", "finit_module", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm",
		"iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
		"move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "perf_event_open",
		"personality", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "query_module",
		"quotactl", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "socket", "stime",
		"swapon", "swapoff", "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib", "userfaultfd",
		"ustat", "vm86", "vm86old",
	} {
		blocked[n] = true
	}
	var allow []string
	for _, n := range allNames() {
		if !blocked[n] {
			allow = append(allow, n)
		}
	}
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.EPERM)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: allow, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0x0, Op: specs.OpEqualTo},
				{Index: 0, Value: 0x8, Op: specs.OpEqualTo},
				{Index: 0, Value: 0x20000, Op: specs.OpEqualTo},
				{Index: 0, Value: 0x20008, Op: specs.OpEqualTo},
				{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo},
			}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual},
			}},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpNotEqual},
			}},
			{Names: []string{"sync_file_range2", "arm_fadvise64_64", "s390_pci_mmio_read", "riscv_flush_icache"}, Action: specs.ActAllow},
		},
	}
}

// TestLargeProfile compiles a profile larger than Docker's default and
// compares the program with the reference on every number of every ABI up
// to 1024, with argument values around the rules' values.
func TestLargeProfile(t *testing.T) {
	s := dockerLike()
	prog := mustCompile(t, s)
	t.Logf("%d names allowed on 3 ABIs: %d instructions (limit %d)", len(s.Syscalls[0].Names), len(prog), unix.BPF_MAXINSNS)
	for i := 0; i < 5; i++ {
		if again := mustCompile(t, s); !slices.Equal(again, prog) {
			t.Fatal("two compilations of one profile differ")
		}
	}
	if len(prog) > 1024 {
		t.Errorf("program has %d instructions: the range merging is not working", len(prog))
	}
	argSets := [][maxArgs]uint64{
		{},
		{8},
		{0x20008},
		{0xffffffff},
		{0x1ffffffff},
		{unix.AF_VSOCK},
		{unix.AF_INET},
		{unix.CLONE_NEWUSER},
		{uint64(unix.SIGCHLD) | unix.CLONE_VM},
		{0x10000000000 | uint64(unix.SIGCHLD)},
	}
	maxSteps := 0
	for _, arch := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64} {
		for _, base := range []uint32{0, x32SyscallBit} {
			for nr := base; nr < base+1024; nr++ {
				for _, args := range argSets {
					d := seccompData{arch: arch, nr: nr, args: args}
					got, steps, err := run(prog, d)
					if err != nil {
						t.Fatalf("%v: %v", d, err)
					}
					maxSteps = max(maxSteps, steps)
					want, err := reference(s, d)
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Fatalf("%v: program returns %#x, reference %#x", d, got, want)
					}
				}
			}
		}
	}
	t.Logf("at most %d instructions executed per call", maxSteps)
	expect(t, s, prog, call(t, abiX86_64, "clone3"), retErrno(unix.ENOSYS))
	expect(t, s, prog, call(t, abiX86_64, "mount"), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiX32, "mount"), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiI386, "mount"), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiX86_64, "read"), retAllow)
	expect(t, s, prog, call(t, abiX32, "ioctl"), retAllow)
	expect(t, s, prog, call(t, abiI386, "socketcall"), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "socket", unix.AF_VSOCK), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiX86_64, "socket", unix.AF_UNIX), retAllow)
}

// TestWorstCaseProfile gives every known system call its own argument
// rule, so nothing can be merged: the result either fits and is correct,
// or is refused with ErrTooLarge, never a broken program.
func TestWorstCaseProfile(t *testing.T) {
	for _, arches := range [][]specs.Arch{
		{specs.ArchX86_64},
		{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	} {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: arches}
		for i, n := range allNames() {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
				Names: []string{n}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: uint(i % maxArgs), Value: uint64(i) << 20, Op: specs.OpGreaterEqual}},
			})
		}
		prog, err := Compile(s)
		if errors.Is(err, ErrTooLarge) {
			t.Logf("%v: %v", arches, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(prog); err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: %d instructions", arches, len(prog))
		for nr := uint32(0); nr < 600; nr++ {
			for _, v := range []uint64{0, uint64(nr) << 20, uint64(nr+1) << 20, 1 << 40} {
				d := seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: nr, args: [maxArgs]uint64{v, v, v, v, v, v}}
				got, _, err := run(prog, d)
				want, _ := reference(s, d)
				if err != nil || got != want {
					t.Fatalf("%v: program returns %#x (%v), reference %#x", d, got, err, want)
				}
			}
		}
	}
}
