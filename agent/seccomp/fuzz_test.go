package seccomp

import (
	"encoding/binary"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fuzzBytes hands out the fuzzer's input piece by piece; past the end it
// gives zeros.
type fuzzBytes []byte

func (b *fuzzBytes) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return v
}

func (b *fuzzBytes) u64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = b.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

// value picks an argument value: mostly interesting edges, sometimes raw.
func (b *fuzzBytes) value() uint64 {
	edges := []uint64{0, 1, 0xffffffff, 0x100000000, 0xffffffffffffffff, 0x7fffffff, 0x80000000, 0xffffffff00000000}
	switch k := b.byte(); {
	case k < 128:
		return edges[int(k)%len(edges)]
	case k < 192:
		return uint64(b.byte())
	default:
		return b.u64()
	}
}

var (
	fuzzActions = []specs.LinuxSeccompAction{
		specs.ActAllow, specs.ActErrno, specs.ActKill, specs.ActKillProcess, specs.ActKillThread,
		specs.ActTrap, specs.ActTrace, specs.ActLog, specs.ActErrno, specs.ActAllow,
		specs.ActNotify, "SCMP_ACT_BOGUS",
	}
	fuzzOps = []specs.LinuxSeccompOperator{
		specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual, "SCMP_CMP_BOGUS",
	}
	fuzzArches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64}
)

// genProfile decodes a profile from fuzz input. Rare choices (NOTIFY, bad
// names, argument index 6) make invalid profiles, which must fail cleanly.
func genProfile(b *fuzzBytes, names []string) *specs.LinuxSeccomp {
	pick := func() specs.LinuxSeccompAction {
		k := int(b.byte())
		if k >= 250 {
			return fuzzActions[10+k%2] // notify, bogus
		}
		return fuzzActions[k%10]
	}
	errnoRet := func(a specs.LinuxSeccompAction) *uint {
		k := b.byte()
		if k < 200 || (a != specs.ActErrno && a != specs.ActTrace && k < 254) {
			return nil
		}
		v := uint(b.byte())
		return &v
	}
	s := &specs.LinuxSeccomp{DefaultAction: pick()}
	s.DefaultErrnoRet = errnoRet(s.DefaultAction)
	archMask := b.byte()
	for i, a := range fuzzArches {
		if archMask&(1<<i) != 0 {
			s.Architectures = append(s.Architectures, a)
		}
	}
	if archMask&0x80 != 0 && archMask&0x40 != 0 && archMask&0x20 != 0 {
		s.Architectures = append(s.Architectures, "SCMP_ARCH_BOGUS")
	}
	if archMask == 0xff {
		s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_BOGUS"}
	}
	for n := int(b.byte() % 24); n > 0; n-- {
		sc := specs.LinuxSyscall{Action: pick()}
		sc.ErrnoRet = errnoRet(sc.Action)
		for k := int(b.byte()%4) + 1; k > 0; k-- {
			i := int(b.byte())<<8 | int(b.byte())
			switch {
			case i >= 0xfff0:
				sc.Names = append(sc.Names, "")
			case i >= 0xff00:
				sc.Names = append(sc.Names, "no_such_syscall")
			default:
				sc.Names = append(sc.Names, names[i%len(names)])
			}
		}
		for k := int(b.byte() % 4); k > 0; k-- {
			idx := uint(b.byte() % 7) // 6 is invalid
			if idx == 6 && b.byte() < 200 {
				idx = 0
			}
			op := fuzzOps[int(b.byte())%len(fuzzOps)]
			if op == "SCMP_CMP_BOGUS" && b.byte() < 200 {
				op = specs.OpEqualTo
			}
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{Index: idx, Op: op, Value: b.value(), ValueTwo: b.value()})
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

// probes returns seccomp_data to run: the numbers the profile names on
// each ABI and their neighbours, with argument values at and around the
// rules' values.
func probes(b *fuzzBytes, s *specs.LinuxSeccomp) []seccompData {
	var nrs []seccompData
	for _, sc := range s.Syscalls {
		for _, n := range sc.Names {
			for _, a := range []*abi{abiX86_64, abiX32, abiI386} {
				if nr, ok := a.lookup(n); ok {
					for _, d := range []uint32{0, 1, ^uint32(0)} {
						nrs = append(nrs, seccompData{arch: a.auditArch, nr: nr + d})
					}
				}
			}
		}
	}
	nrs = append(nrs,
		seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0xffffffff},
		seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0x3fffffff},
		seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: 0xfffffffe},
		seccompData{arch: unix.AUDIT_ARCH_I386, nr: 0xffffffff},
		seccompData{arch: unix.AUDIT_ARCH_AARCH64, nr: 0},
	)
	var vals []uint64
	for _, sc := range s.Syscalls {
		for _, a := range sc.Args {
			vals = append(vals, a.Value, a.Value+1, a.Value-1, a.ValueTwo, a.Value^(1<<32), a.ValueTwo|a.Value)
		}
	}
	vals = append(vals, 0, 0xffffffffffffffff)
	var out []seccompData
	for _, d := range nrs {
		for k := 0; k < 4; k++ {
			for i := range d.args {
				if b.byte()&1 == 0 {
					d.args[i] = vals[int(b.byte())%len(vals)]
				} else {
					d.args[i] = b.value()
				}
			}
			out = append(out, d)
		}
	}
	return out
}

// FuzzCompile: for any profile, Compile either fails with one of its
// errors or returns a program that passes the verifier and agrees with the
// reference evaluation on probes around everything the profile names.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0x07, 3, 0, 2, 1, 0, 0, 1, 3, 3, 0, 0, 5})
	f.Add([]byte("\x09\xff\x0f\x17\x00\x03\x00\x10\x00\x20\x03\x01\x06\xc0\x81\x80\x40\x02\x05\x06\x07"))
	f.Add([]byte("\x01\x00\x07\x05\x02\x02\x00\x3c\x01\x10\x02\x00\x06\xff\x01\x02\x03\x04\x05\x06\x07\x08\x01\x05\x00\x00"))
	names := allNames()
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBytes(data)
		s := genProfile(&b, names)
		prog, err := Compile(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotifyUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Compile: unexpected error %v", err)
			}
			return
		}
		if err := verify(prog); err != nil {
			t.Fatalf("verify: %v", err)
		}
		for _, d := range probes(&b, s) {
			got, _, err := run(prog, d)
			if err != nil {
				t.Fatalf("%v: run: %v", d, err)
			}
			want, err := reference(s, d)
			if err != nil {
				t.Fatalf("reference: %v", err)
			}
			if got != want {
				t.Fatalf("%v: program returns %#x, reference %#x\nprofile: %+v", d, got, want, s)
			}
		}
	})
}
