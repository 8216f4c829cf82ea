package hostcheck

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/hullvm/hull/kvm"
)

func TestLoopCodeBytes(t *testing.T) {
	code, err := loopCode(20_000_000) // 0x01312D00
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x48, 0xC7, 0xC1, 0x00, 0x2D, 0x31, 0x01, // mov rcx, 20000000
		0x48, 0xFF, 0xC9, // dec rcx
		0x75, 0xFB, // jnz -5
		0x0F, 0x0B, // ud2
	}
	if !bytes.Equal(code, want) {
		t.Fatalf("loopCode = % x\nwant      % x", code, want)
	}
	// The jnz lands on the dec: rel8 is relative to the next instruction.
	const decAt, jnzAt = 7, 10
	if target := jnzAt + 2 + int(int8(code[jnzAt+1])); target != decAt {
		t.Errorf("jnz targets offset %d, want %d", target, decAt)
	}
	for _, bad := range []uint32{0, maxLoopN + 1, 0xffffffff} {
		if _, err := loopCode(bad); err == nil {
			t.Errorf("loopCode(%d) accepted", bad)
		}
	}
	if c, err := loopCode(maxLoopN); err != nil || binary.LittleEndian.Uint32(c[3:]) != 0x7fffffff {
		t.Errorf("loopCode(max) = % x, %v", c, err)
	}
}

func TestSyscallCodeBytes(t *testing.T) {
	if got, want := syscallUserCode(), []byte{0x0F, 0x05, 0x0F, 0x0B}; !bytes.Equal(got, want) {
		t.Errorf("syscallUserCode = % x, want % x", got, want)
	}
	if got, want := syscallKernelCode(0x0510), []byte{0x66, 0xBA, 0x10, 0x05, 0xEE, 0xF4}; !bytes.Equal(got, want) {
		t.Errorf("syscallKernelCode = % x, want % x", got, want)
	}
}

func TestGDTDescriptors(t *testing.T) {
	for _, c := range []struct {
		name string
		d    segDesc
		want uint64 // the usual flat descriptors (Linux's GDT_ENTRY_INIT values)
		sel  uint16
	}{
		{"kernel code64", kernelCode, 0x00AF9B000000FFFF, 0x08},
		{"kernel data", kernelData, 0x00CF93000000FFFF, 0x10},
		{"user code32", user32Code, 0x00CFFB000000FFFF, 0x1B},
		{"user data", userData, 0x00CFF3000000FFFF, 0x23},
		{"user code64", userCode, 0x00AFFB000000FFFF, 0x2B},
	} {
		if got := c.d.descriptor(); got != c.want {
			t.Errorf("%s descriptor = %#016x, want %#016x", c.name, got, c.want)
		}
		if got := c.d.selector(); got != c.sel {
			t.Errorf("%s selector = %#x, want %#x", c.name, got, c.sel)
		}
	}
	lo, hi := tssDescriptor()
	if lo != 0x0000890060000067 || hi != 0 {
		t.Errorf("TSS descriptor = %#016x %#016x", lo, hi)
	}
}

// TestSTARSelectors: SYSCALL loads CS = STAR[47:32] and SS = CS+8; SYSRET to
// 64-bit loads CS = STAR[63:48]+16 and SS = STAR[63:48]+8 (RPL 3).
func TestSTARSelectors(t *testing.T) {
	s := star()
	sysCS, sysretBase := uint16(s>>32), uint16(s>>48)
	if sysCS != kernelCode.selector() || sysCS+8 != kernelData.selector() {
		t.Errorf("SYSCALL CS/SS = %#x/%#x, want %#x/%#x", sysCS, sysCS+8, kernelCode.selector(), kernelData.selector())
	}
	if sysretBase+16 != userCode.selector() || sysretBase+8 != userData.selector() {
		t.Errorf("SYSRET CS/SS = %#x/%#x, want %#x/%#x", sysretBase+16, sysretBase+8, userCode.selector(), userData.selector())
	}
	msrs := syscallMSRs()
	got := map[uint32]uint64{}
	for _, m := range msrs {
		got[m.Index] = m.Data
	}
	if got[msrLSTAR] != kernelCodeAddr || got[msrSTAR] != s || got[msrSFMASK]&(1<<9) == 0 {
		t.Errorf("syscall MSRs = %#v", got)
	}
}

// walk translates va through the 4-level tables at cr3 in mem (4 KiB pages
// only) and reports the physical address and whether user mode may access it.
func walk(t *testing.T, mem []byte, cr3, va uint64) (pa uint64, user, ok bool) {
	t.Helper()
	table := cr3
	user = true
	for level, shift := 0, uint(39); level < 4; level, shift = level+1, shift-9 {
		idx := (va >> shift) & 0x1ff
		if table+8*idx+8 > uint64(len(mem)) {
			t.Fatalf("table %#x outside memory", table)
		}
		e := binary.LittleEndian.Uint64(mem[table+8*idx:])
		if e&pteP == 0 {
			return 0, false, false
		}
		if e&(1<<7) != 0 {
			t.Fatalf("large page at level %d: only 4 KiB pages expected", level)
		}
		user = user && e&pteUS != 0
		table = e & 0x000ffffffffff000
	}
	return table | va&0xfff, user, true
}

func TestProbeMemoryLayout(t *testing.T) {
	mem := make([]byte, probeMemSize)
	for i := range mem {
		mem[i] = 0xcc // writeBase must not depend on zeroed memory
	}
	if err := writeBase(mem); err != nil {
		t.Fatal(err)
	}
	for va := uint64(0); va < probeMemSize; va += pageSize {
		pa, user, ok := walk(t, mem, pml4Addr, va)
		if !ok || pa != va {
			t.Fatalf("va %#x maps to %#x (present %v), want identity", va, pa, ok)
		}
		if wantUser := va != kernelCodeAddr; user != wantUser {
			t.Errorf("va %#x user-accessible = %v, want %v", va, user, wantUser)
		}
	}
	if _, _, ok := walk(t, mem, pml4Addr, probeMemSize); ok {
		t.Error("memory past 2 MiB is mapped")
	}
	// The GDT in memory holds the descriptors the sregs are built from.
	for _, d := range gdtSegs {
		got := binary.LittleEndian.Uint64(mem[gdtAddr+8*d.index:])
		if got != d.descriptor() {
			t.Errorf("GDT[%d] = %#x", d.index, got)
		}
		if s := d.segment(); decodeType(got) != s.Type || decodeDPL(got) != s.DPL || decodeBit(got, 53) != s.L || decodeBit(got, 54) != s.DB || decodeBit(got, 47) != s.Present {
			t.Errorf("GDT[%d] %#x disagrees with its kvm.Segment %+v", d.index, got, s)
		}
	}
	if err := writeBase(make([]byte, 4096)); err == nil {
		t.Error("writeBase accepted a short memory")
	}
}

func decodeType(d uint64) uint8        { return uint8(d>>40) & 0xf }
func decodeDPL(d uint64) uint8         { return uint8(d>>45) & 3 }
func decodeBit(d uint64, b uint) uint8 { return uint8(d>>b) & 1 }

func TestLongModeSregs(t *testing.T) {
	var start kvm.Sregs
	start.APICBase = 0xfee00900
	for _, c := range []struct {
		cpl    int
		sce    bool
		cs, ss uint16
		dpl    uint8
	}{
		{0, false, 0x08, 0x10, 0},
		{3, false, 0x2B, 0x23, 3},
		{3, true, 0x2B, 0x23, 3},
	} {
		s := longModeSregs(start, c.cpl, c.sce)
		if s.CS.Selector != c.cs || s.SS.Selector != c.ss || s.CS.DPL != c.dpl || s.SS.DPL != c.dpl || s.DS.DPL != c.dpl {
			t.Errorf("CPL%d: CS %+v SS %+v", c.cpl, s.CS, s.SS)
		}
		if s.CS.L != 1 || s.CS.DB != 0 || s.CS.Type != typeCodeXRA || s.SS.Type != typeDataRWA {
			t.Errorf("CPL%d: CS not 64-bit code: %+v", c.cpl, s.CS)
		}
		if s.CR0&(cr0PE|cr0PG) != cr0PE|cr0PG || s.CR4&cr4PAE == 0 || s.CR3 != pml4Addr {
			t.Errorf("CPL%d: CR0 %#x CR4 %#x CR3 %#x", c.cpl, s.CR0, s.CR4, s.CR3)
		}
		if s.EFER&(eferLME|eferLMA) != eferLME|eferLMA || (s.EFER&eferSCE != 0) != c.sce {
			t.Errorf("CPL%d sce=%v: EFER %#x", c.cpl, c.sce, s.EFER)
		}
		if s.IDT.Limit != 0 || s.GDT.Base != gdtAddr || s.GDT.Limit != gdtEntries*8-1 {
			t.Errorf("CPL%d: IDT %+v GDT %+v", c.cpl, s.IDT, s.GDT)
		}
		if s.TR.Type != typeTSSBusy || s.TR.Present != 1 || s.TR.Selector != tssIndex*8 || s.LDT.Unusable != 1 {
			t.Errorf("CPL%d: TR %+v LDT %+v", c.cpl, s.TR, s.LDT)
		}
		if s.APICBase != start.APICBase {
			t.Error("fields longModeSregs does not own were changed")
		}
	}
}
