package boot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

// testSegment is one program header of a test ELF file. data is the file
// content (filesz = len(data) unless filesz is set); typ defaults to PT_LOAD.
type testSegment struct {
	typ    elf.ProgType
	paddr  uint64
	memsz  uint64
	data   []byte
	offset uint64 // 0: placed after the headers
	filesz uint64 // 0: len(data)
}

// buildELF returns a little ELF64 x86-64 executable: header, program
// headers, then each segment's data in order.
func buildELF(entry uint64, segs ...testSegment) []byte {
	var buf bytes.Buffer
	h := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     entry,
		Phoff:     elfHeaderSize,
		Ehsize:    elfHeaderSize,
		Phentsize: elfProgHeaderSize,
		Phnum:     uint16(len(segs)),
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	mustWrite(&buf, h)
	off := uint64(elfHeaderSize + len(segs)*elfProgHeaderSize)
	for _, s := range segs {
		p := elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: off,
			Vaddr: s.paddr, Paddr: s.paddr, Filesz: uint64(len(s.data)), Memsz: s.memsz, Align: PageSize}
		if s.typ != 0 {
			p.Type = uint32(s.typ)
		}
		if s.offset != 0 {
			p.Off = s.offset
		}
		if s.filesz != 0 {
			p.Filesz = s.filesz
		}
		mustWrite(&buf, p)
		off += uint64(len(s.data))
	}
	for _, s := range segs {
		buf.Write(s.data)
	}
	return buf.Bytes()
}

func mustWrite(buf *bytes.Buffer, v any) {
	if err := binary.Write(buf, binary.LittleEndian, v); err != nil {
		panic(err) // fixed-size test structs only
	}
}

// tinyKernel is a one-segment test guest at 1 MiB: 64 bytes of code plus
// 0x100 bytes of bss, entry at its start.
func tinyKernel() []byte {
	code := bytes.Repeat([]byte{0xf4}, 64) // hlt
	return buildELF(uint64(HighMemStart), testSegment{paddr: uint64(HighMemStart), memsz: 64 + 0x100, data: code})
}

// newMem returns guest memory from MemoryRanges(size).
func newMem(t testing.TB, size uint64) *guestmem.Memory {
	t.Helper()
	ranges, err := MemoryRanges(size)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := guestmem.NewBytes(ranges...)
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// newMemRanges returns guest memory made of the given ranges.
func newMemRanges(t testing.TB, ranges ...guestmem.Range) *guestmem.Memory {
	t.Helper()
	mem, err := guestmem.NewBytes(ranges...)
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// readBytes reads n bytes of guest memory at a or fails the test.
func readBytes(t testing.TB, mem *guestmem.Memory, a guestmem.GPA, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if err := mem.ReadAt(b, a); err != nil {
		t.Fatal(err)
	}
	return b
}

// snapshot copies every region of mem.
func snapshot(mem *guestmem.Memory) [][]byte {
	var s [][]byte
	for _, r := range mem.Regions() {
		s = append(s, bytes.Clone(r.Host))
	}
	return s
}

type gpa = guestmem.GPA

func rangeOf(base gpa, size uint64) guestmem.Range { return guestmem.Range{Base: base, Size: size} }

// newLowMem returns 2 MiB of guest RAM from 0: enough for the low boot
// structures.
func newLowMem(t testing.TB) *guestmem.Memory { return newMemRanges(t, rangeOf(0, 2<<20)) }
