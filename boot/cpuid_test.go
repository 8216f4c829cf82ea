package boot

import (
	"slices"
	"testing"
)

func vendorEntry(v string) CPUIDEntry {
	le := func(s string) uint32 { return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24 }
	return CPUIDEntry{Function: 0, EAX: 0x1f, EBX: le(v[0:4]), EDX: le(v[4:8]), ECX: le(v[8:12])}
}

// intelSupported is a KVM_GET_SUPPORTED_CPUID-like list from an Intel host
// with every bit set that NormalizeCPUID should clear.
func intelSupported() []CPUIDEntry {
	return []CPUIDEntry{
		vendorEntry("GenuineIntel"),
		{Function: 1, EAX: 0x806f8, EBX: 0xff_ff_ff_07, ECX: 0x7ffaffff | 1<<15, EDX: 0xbfebfbff &^ (1 << 28)},
		{Function: 4, Index: 0, Flags: 1, EAX: 0xfc004121}, // L1d: level 1, type 1, sharing 1, cores 63
		{Function: 4, Index: 1, Flags: 1, EAX: 0xfc004122}, // L1i
		{Function: 4, Index: 2, Flags: 1, EAX: 0xfc01c143}, // L2, sharing 7
		{Function: 4, Index: 3, Flags: 1, EAX: 0xfc3fc163}, // L3, sharing 255
		{Function: 4, Index: 4, Flags: 1, EAX: 0},          // no more caches
		{Function: 6, EAX: 0xffffffff, EBX: 0xf, ECX: 0xf, EDX: 0x1},
		{Function: 7, Index: 0, Flags: 1, EBX: 0x12345678},
		{Function: 0xa, EAX: 0x07300805, EBX: 0, ECX: 0, EDX: 0x603},
		{Function: 0xb, Index: 0, Flags: 1, EAX: 1, EBX: 2, ECX: 0x100, EDX: 77},
		{Function: 0xb, Index: 1, Flags: 1, EAX: 7, EBX: 112, ECX: 0x201, EDX: 77},
		{Function: 0xb, Index: 2, Flags: 1, ECX: 2, EDX: 77},
		{Function: 0x1f, Index: 0, Flags: 1, EAX: 1, EBX: 2, ECX: 0x100, EDX: 77},
		{Function: 0x40000000, EAX: 0x40000001, EBX: 0x4b4d564b, ECX: 0x564b4d56, EDX: 0x4d},
		{Function: 0x40000001, EAX: 0x01007afb},
		{Function: 0x80000008, EAX: 0x3030, ECX: 0x0},
	}
}

func amdSupported() []CPUIDEntry {
	return []CPUIDEntry{
		vendorEntry("AuthenticAMD"),
		{Function: 1, EBX: 0x0a_40_08_00, ECX: 0x7ed8320b, EDX: 0x178bfbff},
		{Function: 6, EAX: 0x4, ECX: 0x1},
		{Function: 0xa, EAX: 0x1234}, // AMD: not the Intel PMU leaf, left alone
		{Function: 0x80000008, EAX: 0x3030, ECX: 0x700f},
		{Function: 0x8000001d, Index: 0, Flags: 1, EAX: 0x00004121},
		{Function: 0x8000001d, Index: 3, Flags: 1, EAX: 0x0003c163},
		{Function: 0x8000001e, EAX: 0x3, EBX: 0x101, ECX: 0x300},
	}
}

func find(t *testing.T, es []CPUIDEntry, fn, idx uint32) CPUIDEntry {
	t.Helper()
	var found []CPUIDEntry
	for _, e := range es {
		if e.Function == fn && e.Index == idx {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("leaf %#x.%d present %d times", fn, idx, len(found))
	}
	return found[0]
}

func TestNormalizeCPUIDIntel(t *testing.T) {
	for _, c := range []struct {
		cpu, n                        int
		ebx1, edx1HTT                 uint32
		shift, l3Sharing, coresMinus1 uint32
	}{
		{cpu: 0, n: 1, ebx1: 0x00_01_08_07, edx1HTT: 0, shift: 0, l3Sharing: 0, coresMinus1: 0},
		{cpu: 1, n: 2, ebx1: 0x01_02_08_07, edx1HTT: 1 << 28, shift: 1, l3Sharing: 1, coresMinus1: 1},
		{cpu: 4, n: 5, ebx1: 0x04_08_08_07, edx1HTT: 1 << 28, shift: 3, l3Sharing: 4, coresMinus1: 4},
		{cpu: 31, n: 32, ebx1: 0x1f_20_08_07, edx1HTT: 1 << 28, shift: 5, l3Sharing: 31, coresMinus1: 31},
		{cpu: 200, n: 254, ebx1: 0xc8_ff_08_07, edx1HTT: 1 << 28, shift: 8, l3Sharing: 253, coresMinus1: 63},
	} {
		in := intelSupported()
		orig := slices.Clone(in)
		out := NormalizeCPUID(in, c.cpu, c.n)
		if !slices.Equal(in, orig) {
			t.Fatal("input modified")
		}
		l1 := find(t, out, 1, 0)
		if l1.EBX != c.ebx1 {
			t.Errorf("n=%d cpu=%d: leaf 1 EBX %#x, want %#x", c.n, c.cpu, l1.EBX, c.ebx1)
		}
		if l1.EDX&(1<<28) != c.edx1HTT {
			t.Errorf("n=%d: HTT %#x", c.n, l1.EDX&(1<<28))
		}
		if l1.ECX&(1<<31) == 0 || l1.ECX&(1<<24) == 0 || l1.ECX&(1<<15) != 0 {
			t.Errorf("leaf 1 ECX %#x: want hypervisor and TSC-deadline set, PDCM clear", l1.ECX)
		}
		if l1.EAX != 0x806f8 || l1.EDX|1<<28 != 0xbfebfbff|1<<28 {
			t.Errorf("leaf 1 EAX/EDX changed: %#x %#x", l1.EAX, l1.EDX)
		}
		for idx, level := range []uint32{1, 1, 2, 3} {
			eax := find(t, out, 4, uint32(idx)).EAX
			sharing := eax >> 14 & 0xfff
			want := uint32(0)
			if level == 3 {
				want = c.l3Sharing
			}
			if sharing != want || eax>>26 != c.coresMinus1 || eax&0x3fff != orig[2+idx].EAX&0x3fff {
				t.Errorf("n=%d leaf 4.%d EAX %#x: sharing %d want %d, cores-1 %d want %d", c.n, idx, eax, sharing, want, eax>>26, c.coresMinus1)
			}
		}
		if e := find(t, out, 4, 4); e.EAX != 0 {
			t.Errorf("terminating leaf 4 subleaf changed: %+v", e)
		}
		if l6 := find(t, out, 6, 0); l6.EAX != 1<<2 || l6.EBX != 0 || l6.ECX != 0x7 || l6.EDX != 1 {
			t.Errorf("leaf 6 = %+v", l6)
		}
		if la := find(t, out, 0xa, 0); la != (CPUIDEntry{Function: 0xa}) {
			t.Errorf("leaf 0xa = %+v", la)
		}
		for _, fn := range []uint32{0xb, 0x1f} {
			smt, core, inv := find(t, out, fn, 0), find(t, out, fn, 1), find(t, out, fn, 2)
			id := uint32(c.cpu)
			if smt != (CPUIDEntry{Function: fn, Index: 0, Flags: 1, EAX: 0, EBX: 1, ECX: 0x100, EDX: id}) {
				t.Errorf("leaf %#x.0 = %+v", fn, smt)
			}
			if core != (CPUIDEntry{Function: fn, Index: 1, Flags: 1, EAX: c.shift, EBX: uint32(c.n), ECX: 0x201, EDX: id}) {
				t.Errorf("leaf %#x.1 = %+v", fn, core)
			}
			if inv != (CPUIDEntry{Function: fn, Index: 2, Flags: 1, ECX: 2, EDX: id}) {
				t.Errorf("leaf %#x.2 = %+v", fn, inv)
			}
			// Every APIC ID of the VM maps to package 0.
			if uint32(c.n-1)>>c.shift != 0 {
				t.Errorf("shift %d leaves APIC ID %d outside package 0", c.shift, c.n-1)
			}
		}
		// Untouched leaves: 7, KVM's, and 0x80000008 on Intel.
		for _, e := range orig {
			if e.Function == 7 || e.Function >= 0x40000000 {
				if got := find(t, out, e.Function, e.Index); got != e {
					t.Errorf("leaf %#x changed: %+v → %+v", e.Function, e, got)
				}
			}
		}
		if len(out) != len(orig)+2 { // 0x1f gains subleaves 1 and 2
			t.Errorf("%d entries out of %d", len(out), len(orig))
		}
	}
}

func TestNormalizeCPUIDAMD(t *testing.T) {
	for _, c := range []struct {
		cpu, n int
		ecx8   uint32
	}{
		{0, 1, 0x0000},
		{2, 3, 0x2002},
		{7, 8, 0x3007},
	} {
		in := amdSupported()
		out := NormalizeCPUID(in, c.cpu, c.n)
		id := uint32(c.cpu)
		if l1 := find(t, out, 1, 0); l1.EBX>>24 != id || l1.ECX&(1<<31) == 0 {
			t.Errorf("leaf 1 %+v", l1)
		}
		if e := find(t, out, 0x80000008, 0); e.ECX != c.ecx8 || e.EAX != 0x3030 {
			t.Errorf("n=%d leaf 0x80000008 ECX %#x, want %#x", c.n, e.ECX, c.ecx8)
		}
		if e := find(t, out, 0x8000001d, 0); e.EAX>>14&0xfff != 0 {
			t.Errorf("L1 sharing %d", e.EAX>>14&0xfff)
		}
		if e := find(t, out, 0x8000001d, 3); e.EAX>>14&0xfff != uint32(c.n-1) || e.EAX&0x3fff != 0x0163 {
			t.Errorf("L3 EAX %#x", e.EAX)
		}
		if e := find(t, out, 0x8000001e, 0); e.EAX != id || e.EBX != id || e.ECX != 0 {
			t.Errorf("leaf 0x8000001e %+v", e)
		}
		if e := find(t, out, 0xa, 0); e.EAX != 0x1234 {
			t.Errorf("AMD leaf 0xa changed: %+v", e)
		}
		if e := find(t, out, 6, 0); e.EAX != 0x4 || e.ECX != 0x1 {
			t.Errorf("leaf 6 %+v", e)
		}
		for _, e := range out {
			if e.Function == 0xb || e.Function == 0x1f {
				t.Errorf("topology leaf %#x added though KVM did not list it", e.Function)
			}
		}
	}
}

// TestNormalizeCPUIDOddInput: no panic and sane clamping on inputs the VMM
// should never pass.
func TestNormalizeCPUIDOddInput(t *testing.T) {
	if out := NormalizeCPUID(nil, 0, 1); len(out) != 0 {
		t.Errorf("nil input gave %v", out)
	}
	for _, c := range []struct{ cpu, n, wantID, wantCount int }{
		{-5, 0, 0, 1}, {10, 2, 1, 2}, {0, 1 << 30, 0, 255}, {1 << 30, -1, 0, 1},
	} {
		out := NormalizeCPUID(intelSupported(), c.cpu, c.n)
		l1 := find(t, out, 1, 0)
		if int(l1.EBX>>24) != c.wantID || int(l1.EBX>>16&0xff) != c.wantCount {
			t.Errorf("cpu %d n %d: leaf 1 EBX %#x", c.cpu, c.n, l1.EBX)
		}
	}
}

func TestCeilLog2(t *testing.T) {
	for v, want := range map[uint32]uint32{1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 128: 7, 129: 8, 254: 8} {
		if got := ceilLog2(v); got != want {
			t.Errorf("ceilLog2(%d) = %d, want %d", v, got, want)
		}
	}
}
