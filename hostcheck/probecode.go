package hostcheck

import (
	"encoding/binary"
	"fmt"

	"github.com/hullvm/hull/kvm"
)

// The probe guests: 2 MiB of memory at guest-physical 0, identity-mapped with
// 4 KiB pages, 64-bit long mode entered directly through SetSregs, no IDT (so
// any exception triple-faults into KVM_EXIT_SHUTDOWN), no in-kernel irqchip.
// Everything here is pure: it writes bytes into a slice and returns register
// values, and probecode_test.go checks it byte by byte.

// Guest-physical layout of a probe VM.
const (
	probeMemSize   = 2 << 20
	gdtAddr        = 0x1000
	pml4Addr       = 0x2000
	pdptAddr       = 0x3000
	pdAddr         = 0x4000
	ptAddr         = 0x5000 // 512 4-KiB PTEs: the first 2 MiB
	tssAddr        = 0x6000
	userCodeAddr   = 0x10000 // user-accessible page: the loop and the syscall
	kernelCodeAddr = 0x11000 // supervisor-only page: the LSTAR target
	stackTop       = 0x20000
	pageSize       = 0x1000
)

// probePort is the I/O port the LSTAR code writes to.
const probePort = 0x0510

// probeAL is the value the syscall probe leaves in AL for the out.
const probeAL = 0x5a

// Page-table entry bits (Intel SDM Vol. 3A, 4.5).
const (
	pteP  = 1 << 0 // present
	pteRW = 1 << 1 // writable
	pteUS = 1 << 2 // user-accessible
)

// Control-register and EFER bits.
const (
	cr0PE          = 1 << 0
	cr0MP          = 1 << 1
	cr0ET          = 1 << 4
	cr0NE          = 1 << 5
	cr0WP          = 1 << 16
	cr0PG          = 1 << 31
	cr4PAE         = 1 << 5
	eferSCE        = 1 << 0
	eferLME        = 1 << 8
	eferLMA        = 1 << 10
	rflagsReserved = 1 << 1 // bit 1 is always 1; IF (bit 9) stays 0
)

// MSRs of the SYSCALL probe.
const (
	msrSTAR   = 0xC0000081
	msrLSTAR  = 0xC0000082
	msrCSTAR  = 0xC0000083
	msrSFMASK = 0xC0000084
	// sfmask clears TF, DF, IF, IOPL, NT and AC on entry, as Linux does.
	sfmask = 0x47700
)

// segDesc is one GDT code/data segment, the single source of both the
// descriptor bytes in guest memory and the kvm.Segment loaded via SetSregs.
type segDesc struct {
	index int   // GDT slot; the selector is index*8 | RPL
	typ   uint8 // type field, accessed bit set
	dpl   uint8
	l, db uint8
}

// Type-field values (with the accessed bit set, as VMX requires).
const (
	typeCodeXRA = 0xB // execute/read, accessed
	typeDataRWA = 0x3 // read/write, accessed
	typeTSSBusy = 0xB // 64-bit TSS, busy (TR)
	typeTSSAvl  = 0x9 // 64-bit TSS, available (its GDT descriptor)
)

// The GDT, laid out as SYSCALL/SYSRET need it: STAR[47:32] = kernelCode (SS
// = +8), STAR[63:48] = user32Code|3 (SYSRET64: SS = +8, CS = +16).
var (
	kernelCode = segDesc{index: 1, typ: typeCodeXRA, dpl: 0, l: 1}
	kernelData = segDesc{index: 2, typ: typeDataRWA, dpl: 0, db: 1}
	user32Code = segDesc{index: 3, typ: typeCodeXRA, dpl: 3, db: 1}
	userData   = segDesc{index: 4, typ: typeDataRWA, dpl: 3, db: 1}
	userCode   = segDesc{index: 5, typ: typeCodeXRA, dpl: 3, l: 1}
	gdtSegs    = []segDesc{kernelCode, kernelData, user32Code, userData, userCode}
)

const (
	tssIndex   = 6 // a 16-byte descriptor: slots 6 and 7
	gdtEntries = 8
	tssLimit   = 0x67
)

func (d segDesc) selector() uint16 { return uint16(d.index*8) | uint16(d.dpl) }

// descriptor encodes d as a flat (base 0, limit 4 GiB, G=1) GDT entry.
func (d segDesc) descriptor() uint64 {
	const limit = 0xFFFFF
	v := uint64(limit & 0xFFFF)
	v |= uint64(d.typ) << 40
	v |= 1 << 44 // S: code/data
	v |= uint64(d.dpl) << 45
	v |= 1 << 47 // P
	v |= uint64(limit>>16) << 48
	v |= uint64(d.l) << 53
	v |= uint64(d.db) << 54
	v |= 1 << 55 // G
	return v
}

// segment is d as KVM's unpacked segment register.
func (d segDesc) segment() kvm.Segment {
	return kvm.Segment{
		Base: 0, Limit: 0xFFFFFFFF, Selector: d.selector(),
		Type: d.typ, Present: 1, DPL: d.dpl, DB: d.db, S: 1, L: d.l, G: 1,
	}
}

// tssDescriptor returns the two GDT words of the 64-bit TSS at tssAddr.
func tssDescriptor() (lo, hi uint64) {
	lo = tssLimit & 0xFFFF
	lo |= uint64(tssAddr&0xFFFFFF) << 16
	lo |= uint64(typeTSSAvl) << 40
	lo |= 1 << 47 // P
	lo |= uint64(tssAddr>>24&0xFF) << 56
	hi = uint64(tssAddr) >> 32
	return lo, hi
}

// Machine code, hand-assembled. Each function returns exactly the bytes of
// the listed instructions.

// loopCode: mov rcx, n; l: dec rcx; jnz l; ud2. n must be in [1, 2^31-1]
// (the immediate is sign-extended; 0 would loop 2^64 times).
func loopCode(n uint32) ([]byte, error) {
	if n == 0 || n > maxLoopN {
		return nil, fmt.Errorf("hostcheck: loop count %d outside [1, %d]", n, maxLoopN)
	}
	code := []byte{0x48, 0xC7, 0xC1, 0, 0, 0, 0} // mov rcx, imm32
	binary.LittleEndian.PutUint32(code[3:], n)
	code = append(code,
		0x48, 0xFF, 0xC9, // dec rcx
		0x75, 0xFB, // jnz -5 (back to dec)
		0x0F, 0x0B, // ud2
	)
	return code, nil
}

// maxLoopN is the largest positive imm32.
const maxLoopN = 1<<31 - 1

// syscallUserCode: syscall; ud2.
func syscallUserCode() []byte {
	return []byte{
		0x0F, 0x05, // syscall
		0x0F, 0x0B, // ud2 (reached only if SYSCALL falls through)
	}
}

// syscallKernelCode (at LSTAR): mov dx, port; out dx, al; hlt.
func syscallKernelCode(port uint16) []byte {
	return []byte{
		0x66, 0xBA, byte(port), byte(port >> 8), // mov dx, imm16
		0xEE, // out dx, al
		0xF4, // hlt
	}
}

// writeBase lays out the GDT, TSS and page tables in mem (probeMemSize
// bytes). The LSTAR page is supervisor-only; every other page is
// user-accessible, so code at CPL3 runs from userCodeAddr and a SYSCALL that
// fails to leave CPL3 faults on its first fetch at LSTAR.
func writeBase(mem []byte) error {
	if len(mem) < probeMemSize {
		return fmt.Errorf("hostcheck: probe memory is %d bytes, want %d", len(mem), probeMemSize)
	}
	le := binary.LittleEndian
	clear(mem[:stackTop])
	for _, d := range gdtSegs {
		le.PutUint64(mem[gdtAddr+8*d.index:], d.descriptor())
	}
	lo, hi := tssDescriptor()
	le.PutUint64(mem[gdtAddr+8*tssIndex:], lo)
	le.PutUint64(mem[gdtAddr+8*(tssIndex+1):], hi)

	le.PutUint64(mem[pml4Addr:], pdptAddr|pteP|pteRW|pteUS)
	le.PutUint64(mem[pdptAddr:], pdAddr|pteP|pteRW|pteUS)
	le.PutUint64(mem[pdAddr:], ptAddr|pteP|pteRW|pteUS)
	for i := 0; i < 512; i++ {
		pte := uint64(i*pageSize) | pteP | pteRW | pteUS
		if i*pageSize == kernelCodeAddr {
			pte &^= pteUS
		}
		le.PutUint64(mem[ptAddr+8*i:], pte)
	}
	return nil
}

// longModeSregs returns sregs (starting from the vCPU's own, for the fields
// this does not set) for 64-bit mode at the given CPL (0 or 3), paging on
// with the identity map, no IDT, and EFER.SCE when sce.
func longModeSregs(s kvm.Sregs, cpl int, sce bool) kvm.Sregs {
	code, data := kernelCode, kernelData
	if cpl == 3 {
		code, data = userCode, userData
	}
	s.CS = code.segment()
	s.SS = data.segment()
	s.DS, s.ES, s.FS, s.GS = s.SS, s.SS, s.SS, s.SS
	s.TR = kvm.Segment{Base: tssAddr, Limit: tssLimit, Selector: tssIndex * 8, Type: typeTSSBusy, Present: 1}
	s.LDT = kvm.Segment{Type: 2, Unusable: 1}
	s.GDT = kvm.DTable{Base: gdtAddr, Limit: gdtEntries*8 - 1}
	s.IDT = kvm.DTable{Base: 0, Limit: 0}
	s.CR0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0PG
	s.CR2 = 0
	s.CR3 = pml4Addr
	s.CR4 = cr4PAE
	s.EFER = eferLME | eferLMA
	if sce {
		s.EFER |= eferSCE
	}
	return s
}

// star is the STAR MSR for gdtSegs.
func star() uint64 {
	return uint64(user32Code.selector())<<48 | uint64(kernelCode.selector())<<32
}

// syscallMSRs are the MSRs the SYSCALL probe sets.
func syscallMSRs() []kvm.MSREntry {
	return []kvm.MSREntry{
		{Index: msrSTAR, Data: star()},
		{Index: msrLSTAR, Data: kernelCodeAddr},
		{Index: msrCSTAR, Data: kernelCodeAddr},
		{Index: msrSFMASK, Data: sfmask},
	}
}
