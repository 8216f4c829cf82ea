package seccomp

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	retAllow       = unix.SECCOMP_RET_ALLOW
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retTrap        = unix.SECCOMP_RET_TRAP
	retLog         = unix.SECCOMP_RET_LOG
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func uintp(v uint) *uint { return &v }

func sysnr(t testing.TB, a *abi, name string) uint32 {
	t.Helper()
	nr, ok := a.lookup(name)
	if !ok {
		t.Fatalf("%s: no system call %q", a.name, name)
	}
	return nr
}

func call(t testing.TB, a *abi, name string, args ...uint64) seccompData {
	t.Helper()
	d := seccompData{nr: sysnr(t, a, name), arch: a.auditArch}
	copy(d.args[:], args)
	return d
}

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) []unix.SockFilter {
	t.Helper()
	prog, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := verify(prog); err != nil {
		t.Fatalf("verify: %v", err)
	}
	return prog
}

// expect runs prog on d and checks the result against want and against the
// reference evaluation of s.
func expect(t testing.TB, s *specs.LinuxSeccomp, prog []unix.SockFilter, d seccompData, want uint32) {
	t.Helper()
	got, _, err := run(prog, d)
	if err != nil {
		t.Fatalf("%v: run: %v", d, err)
	}
	ref, err := reference(s, d)
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	if got != want || ref != want {
		t.Errorf("%v: program returns %#x, reference %#x, want %#x", d, got, ref, want)
	}
}

func TestCompileNil(t *testing.T) {
	prog, err := Compile(nil)
	if prog != nil || err != nil {
		t.Fatalf("Compile(nil) = %v, %v; want nil, nil", prog, err)
	}
}

func TestDefaultAllowDenyOne(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd"}, Action: specs.ActErrno},
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV))},
		},
	}
	prog := mustCompile(t, s)
	expect(t, s, prog, call(t, abiX86_64, "getcwd"), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiX86_64, "mkdir"), retErrno(unix.EXDEV))
	expect(t, s, prog, call(t, abiX86_64, "mkdirat"), retErrno(unix.EXDEV))
	for _, name := range []string{"read", "write", "openat", "exit_group", "rseq_slice_yield"} {
		expect(t, s, prog, call(t, abiX86_64, name), retAllow)
	}
	// Default allow: no ENOSYS stub above the highest named number.
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 5000}, retAllow)
	// Unlisted ABIs and foreign architectures are killed.
	expect(t, s, prog, call(t, abiI386, "getcwd"), retKillProcess)
	expect(t, s, prog, call(t, abiX32, "read"), retKillProcess)
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_AARCH64, nr: 17}, retKillProcess)
	// A tracer's skipped call (-1) gets the default action.
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0xffffffff}, retAllow)
}

func TestDefaultErrnoAllowList(t *testing.T) {
	allowed := []string{"read", "write", "exit_group", "futex", "execve", "brk", "mmap"}
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.EACCES)),
		Syscalls:        []specs.LinuxSyscall{{Names: allowed, Action: specs.ActAllow}},
	}
	prog := mustCompile(t, s)
	for _, name := range allowed {
		expect(t, s, prog, call(t, abiX86_64, name), retAllow)
	}
	expect(t, s, prog, call(t, abiX86_64, "mkdir"), retErrno(unix.EACCES))
	expect(t, s, prog, call(t, abiX86_64, "getcwd"), retErrno(unix.EACCES))
	// Above the highest named number (futex, 202): ENOSYS, as runc does.
	expect(t, s, prog, call(t, abiX86_64, "clone3"), retErrno(unix.ENOSYS))
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0x3fffffff}, retErrno(unix.ENOSYS))
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0xffffffff}, retErrno(unix.EACCES))
	// The default errno without defaultErrnoRet is EPERM.
	s.DefaultErrnoRet = nil
	prog = mustCompile(t, s)
	expect(t, s, prog, call(t, abiX86_64, "mkdir"), retErrno(unix.EPERM))
	// No stub when the default is ENOSYS already.
	s.DefaultErrnoRet = uintp(uint(unix.ENOSYS))
	prog = mustCompile(t, s)
	expect(t, s, prog, call(t, abiX86_64, "clone3"), retErrno(unix.ENOSYS))
}

func TestActions(t *testing.T) {
	for _, tc := range []struct {
		act      specs.LinuxSeccompAction
		errnoRet *uint
		want     uint32
	}{
		{specs.ActKill, nil, retKillThread},
		{specs.ActKillThread, nil, retKillThread},
		{specs.ActKillProcess, nil, retKillProcess},
		{specs.ActTrap, nil, retTrap},
		{specs.ActErrno, nil, retErrno(unix.EPERM)},
		{specs.ActErrno, uintp(uint(unix.ENOENT)), retErrno(unix.ENOENT)},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, uintp(7), unix.SECCOMP_RET_TRACE | 7},
		{specs.ActLog, nil, retLog},
		{specs.ActAllow, nil, retAllow},
	} {
		t.Run(string(tc.act), func(t *testing.T) {
			def := specs.ActAllow
			if tc.act == specs.ActAllow {
				def = specs.ActLog
			}
			s := &specs.LinuxSeccomp{
				DefaultAction: def,
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: tc.act, ErrnoRet: tc.errnoRet}},
			}
			prog := mustCompile(t, s)
			expect(t, s, prog, call(t, abiX86_64, "getpid"), tc.want)
			// The same action as default action, via defaultErrnoRet.
			s2 := &specs.LinuxSeccomp{DefaultAction: tc.act, DefaultErrnoRet: tc.errnoRet}
			prog = mustCompile(t, s2)
			expect(t, s2, prog, call(t, abiX86_64, "getpid"), tc.want)
		})
	}
}

// TestArgComparisons checks every operator on 64-bit values where only
// the high half, only the low half, or both differ.
func TestArgComparisons(t *testing.T) {
	values := []uint64{
		0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
		0x100000000, 0x100000001, 0x100000002, 0x1fffffffe, 0x1ffffffff, 0x200000000, 0x200000001,
		0xfffffffeffffffff, 0xffffffff00000000, 0xffffffff00000001, 0xfffffffffffffffe, 0xffffffffffffffff,
	}
	ops := []specs.LinuxSeccompOperator{
		specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan,
	}
	for _, op := range ops {
		for _, v := range values {
			for arg := uint(0); arg < maxArgs; arg += 5 {
				s := &specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow,
					Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
					Syscalls: []specs.LinuxSyscall{{
						Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ERANGE)),
						Args: []specs.LinuxSeccompArg{{Index: arg, Value: v, Op: op}},
					}},
				}
				prog := mustCompile(t, s)
				for _, x := range values {
					for _, a := range []*abi{abiX86_64, abiI386} {
						d := call(t, a, "lseek")
						d.args[arg] = x
						want := uint32(retAllow)
						if argMatches(s.Syscalls[0].Args[0], d, a.wide) {
							want = retErrno(unix.ERANGE)
						}
						expect(t, s, prog, d, want)
					}
				}
			}
		}
	}
	// Spot checks written out, so the reference is not the only judge.
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"lseek"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0x100000000, Op: specs.OpGreaterEqual}},
		}},
	}
	prog := mustCompile(t, s)
	expect(t, s, prog, call(t, abiX86_64, "lseek", 0, 0xffffffff), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "lseek", 0, 0x100000000), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiX86_64, "lseek", 0, 0x200000000), retErrno(unix.EPERM))
	// i386: the value is truncated to 32 bits (0), so every offset matches.
	expect(t, s, prog, call(t, abiI386, "lseek", 0, 5), retErrno(unix.EPERM))
}

func TestMaskedEqual(t *testing.T) {
	// Docker's clone rule: allowed unless a namespace flag is set.
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"clone"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			{Names: []string{"getpid"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0xff000000000000f0, ValueTwo: 0x1200000000000030, Op: specs.OpMaskedEqual}}},
		},
	}
	prog := mustCompile(t, s)
	for _, a := range []*abi{abiX86_64, abiX32, abiI386} {
		expect(t, s, prog, call(t, a, "clone", uint64(unix.SIGCHLD)|unix.CLONE_VM|unix.CLONE_FS), retAllow)
		expect(t, s, prog, call(t, a, "clone", uint64(unix.SIGCHLD)|unix.CLONE_NEWUSER), retErrno(unix.EPERM))
		expect(t, s, prog, call(t, a, "clone", unix.CLONE_NEWNET), retErrno(unix.EPERM))
	}
	expect(t, s, prog, call(t, abiX86_64, "getpid", 0, 0, 0x12345678abcdef3f), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "getpid", 0, 0, 0x13345678abcdef3f), retErrno(unix.EPERM)) // high byte differs
	expect(t, s, prog, call(t, abiX86_64, "getpid", 0, 0, 0x12345678abcdef4f), retErrno(unix.EPERM)) // low nibble differs
	// A value with bits outside the mask never matches.
	s.Syscalls[1].Args[0] = specs.LinuxSeccompArg{Index: 2, Value: 0xf0, ValueTwo: 0x1f0, Op: specs.OpMaskedEqual}
	prog = mustCompile(t, s)
	expect(t, s, prog, call(t, abiX86_64, "getpid", 0, 0, 0x1f0), retErrno(unix.EPERM))
}

func TestMultipleRulesPerSyscall(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			// Same argument twice: alternatives (Docker's personality list).
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0x0, Op: specs.OpEqualTo},
				{Index: 0, Value: 0x8, Op: specs.OpEqualTo},
				{Index: 0, Value: 0x20000, Op: specs.OpEqualTo},
			}},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo},
			}},
			// Different arguments: all must hold.
			{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EAFNOSUPPORT)), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpEqualTo},
				{Index: 1, Value: unix.SOCK_STREAM, Op: specs.OpEqualTo},
			}},
			// An unconditional rule listed first still loses to the
			// argument rule above for the calls that match it.
			{Names: []string{"socket"}, Action: specs.ActAllow},
			// Several conditional rules with different actions: the first
			// matching one in profile order wins.
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: uintp(3), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: uintp(2), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 5, Op: specs.OpGreaterThan}}},
			{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpGreaterThan}}},
		},
	}
	// Put the unconditional socket rule before the conditional one too.
	s.Syscalls = append([]specs.LinuxSyscall{s.Syscalls[3]}, s.Syscalls...)
	prog := mustCompile(t, s)
	for _, v := range []uint64{0, 8, 0x20000, 0xffffffff} {
		expect(t, s, prog, call(t, abiX86_64, "personality", v), retAllow)
	}
	for _, v := range []uint64{1, 9, 0x20008, 0x1ffffffff} {
		expect(t, s, prog, call(t, abiX86_64, "personality", v), retErrno(unix.EPERM))
	}
	expect(t, s, prog, call(t, abiX86_64, "socket", unix.AF_VSOCK, unix.SOCK_STREAM), retErrno(unix.EAFNOSUPPORT))
	expect(t, s, prog, call(t, abiX86_64, "socket", unix.AF_VSOCK, unix.SOCK_DGRAM), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "socket", unix.AF_INET, unix.SOCK_STREAM), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "kill", 100, 9), retErrno(3))
	expect(t, s, prog, call(t, abiX86_64, "kill", 100, 15), retErrno(2))
	expect(t, s, prog, call(t, abiX86_64, "kill", 100, 0), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "kill", 1, 0), retErrno(unix.EPERM))
}

func TestArchitectures(t *testing.T) {
	base := []specs.LinuxSyscall{
		{Names: []string{"getcwd", "_llseek", "socketcall"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOTDIR))},
		{Names: []string{"ioctl"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOTTY))},
	}
	for _, tc := range []struct {
		arches    []specs.Arch
		i386, x32 bool
	}{
		{nil, false, false},
		{[]specs.Arch{specs.ArchX86_64}, false, false},
		{[]specs.Arch{specs.ArchX86}, true, false},
		{[]specs.Arch{specs.ArchX32}, false, true},
		{[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM}, true, true},
	} {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: tc.arches, Syscalls: base}
		prog := mustCompile(t, s)
		expect(t, s, prog, call(t, abiX86_64, "getcwd"), retErrno(unix.ENOTDIR))
		expect(t, s, prog, call(t, abiX86_64, "ioctl"), retErrno(unix.ENOTTY))
		expect(t, s, prog, call(t, abiX86_64, "read"), retAllow)
		if tc.i386 {
			expect(t, s, prog, call(t, abiI386, "getcwd"), retErrno(unix.ENOTDIR)) // 183 on i386
			expect(t, s, prog, call(t, abiI386, "_llseek"), retErrno(unix.ENOTDIR))
			expect(t, s, prog, call(t, abiI386, "socketcall"), retErrno(unix.ENOTDIR))
			expect(t, s, prog, call(t, abiI386, "read"), retAllow)
			// i386 getcwd's number is x86-64's "shutdown" (48 is not
			// involved): make sure numbers are not shared across ABIs.
			expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_I386, nr: sysnr(t, abiX86_64, "getcwd")}, retAllow)
		} else {
			expect(t, s, prog, call(t, abiI386, "read"), retKillProcess)
		}
		if tc.x32 {
			expect(t, s, prog, call(t, abiX32, "getcwd"), retErrno(unix.ENOTDIR))
			expect(t, s, prog, call(t, abiX32, "ioctl"), retErrno(unix.ENOTTY)) // 514 | x32 bit
			// x32 ioctl is not the x86-64 number with the bit set.
			expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 16 | x32SyscallBit}, retAllow)
			expect(t, s, prog, call(t, abiX32, "read"), retAllow)
		} else {
			expect(t, s, prog, call(t, abiX32, "read"), retKillProcess)
			expect(t, s, prog, call(t, abiX32, "getcwd"), retKillProcess)
		}
		for _, arch := range []uint32{unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, 0, 0xffffffff} {
			expect(t, s, prog, seccompData{arch: arch, nr: 0}, retKillProcess)
		}
	}
}

func TestIgnoredEntries(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"no_such_syscall", "read"}, Action: specs.ActAllow},
			// Same action as the default: no rule, but io_uring_setup
			// (425) still raises the highest named number for the stub.
			{Names: []string{"io_uring_setup"}, Action: specs.ActErrno},
			{Names: []string{"arm_fadvise64_64"}, Action: specs.ActAllow}, // arm only
			{Names: nil, Action: specs.ActAllow},
		},
	}
	prog := mustCompile(t, s)
	expect(t, s, prog, call(t, abiX86_64, "read"), retAllow)
	expect(t, s, prog, call(t, abiX86_64, "io_uring_setup"), retErrno(unix.EPERM))
	expect(t, s, prog, call(t, abiX86_64, "pidfd_open"), retErrno(unix.ENOSYS)) // 434 > 425: stub
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 425}, retErrno(unix.EPERM))
	expect(t, s, prog, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 426}, retErrno(unix.ENOSYS))
}

func TestCompileErrors(t *testing.T) {
	valid := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}},
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*specs.LinuxSeccomp)
		want   error
	}{
		{"no default action", func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }, ErrInvalid},
		{"unknown default action", func(s *specs.LinuxSeccomp) { s.DefaultAction = "SCMP_ACT_MAYBE" }, ErrInvalid},
		{"unknown rule action", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Action = "SCMP_ACT_MAYBE" }, ErrInvalid},
		{"notify rule", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Action = specs.ActNotify }, ErrNotifyUnsupported},
		{"notify default", func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify }, errors.ErrUnsupported},
		{"errnoRet on allow", func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uintp(1) }, ErrInvalid},
		{"errnoRet on kill", func(s *specs.LinuxSeccomp) {
			s.Syscalls[0].Action = specs.ActKill
			s.Syscalls[0].ErrnoRet = uintp(1)
		}, ErrInvalid},
		{"errnoRet too large", func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = uintp(0x10000) }, ErrInvalid},
		{"unknown arch", func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{"SCMP_ARCH_Z80"} }, ErrInvalid},
		{"unknown flag", func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"} }, ErrInvalid},
		{"unknown operator", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args[0].Op = "SCMP_CMP_ABOUT" }, ErrInvalid},
		{"argument index 6", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args[0].Index = 6 }, ErrInvalid},
		{"empty name", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names = []string{"read", ""} }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mutate(s)
			_, err := Compile(s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Compile: %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestFlags(t *testing.T) {
	got, err := filterFlags([]specs.LinuxSeccompFlag{
		flagTSYNC, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagWaitKillableRecv,
	})
	want := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW)
	if err != nil || got != want {
		t.Fatalf("filterFlags = %#x, %v; want %#x", got, err, want)
	}
}

// TestLongJumps builds a program whose jumps exceed the 8-bit range and
// checks the trampolines: copies of far returns, "ja" to other far code.
func TestLongJumps(t *testing.T) {
	var p program
	p.ld(offNr)
	p.emit(&insn{code: opJgeK, k: 3, jt: p.newLabel()}) // jf missing
	if _, err := p.assemble(); err == nil {
		t.Fatal("assemble accepted an unbound label")
	}

	p = program{}
	far, near, farCode := p.newLabel(), p.newLabel(), p.newLabel()
	p.ld(offNr)
	p.jump(opJeqK, 1, far, nil)
	p.jump(opJeqK, 2, farCode, nil)
	p.jump(opJeqK, 3, nil, near)
	for i := 0; i < 300; i++ {
		p.ret(1000 + uint32(i))
	}
	p.bind(near)
	p.ret(2)
	for i := 0; i < 300; i++ {
		p.ret(2000 + uint32(i))
	}
	p.bind(farCode)
	p.ld(offArch) // not a return: reached through "ja"
	p.ret(4)
	p.bind(far)
	p.ret(1)
	prog, err := p.assemble()
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(prog); err != nil {
		t.Fatal(err)
	}
	if len(prog) != 1+3+300+1+300+2+1+3 {
		t.Errorf("%d instructions, want 3 trampolines added to 607", len(prog))
	}
	for _, tc := range []struct{ nr, want uint32 }{{1, 1}, {2, 4}, {3, 1000}, {7, 2}} {
		got, _, err := run(prog, seccompData{nr: tc.nr})
		if err != nil || got != tc.want {
			t.Errorf("nr %d: got %d, %v; want %d", tc.nr, got, err, tc.want)
		}
	}
}
