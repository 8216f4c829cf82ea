package boot

import (
	"cmp"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/hullvm/hull/guestmem"
)

// The ELF64 loader. It reads only the file header and the program headers,
// decodes them itself (debug/elf is used for its types and constants, not
// its parser, which walks section headers and string tables a loader never
// needs and was not written for hostile input), and checks every field it
// uses before the first byte reaches guest memory: a file that fails any
// check leaves guest memory untouched.

const (
	elfHeaderSize     = 64  // sizeof(Elf64_Ehdr)
	elfProgHeaderSize = 56  // sizeof(Elf64_Phdr)
	maxProgramHeaders = 128 // a vmlinux has ~6, a test guest 1-3
	bzImageMagicOff   = 0x202
	bzImageMagic      = "HdrS" // boot protocol header magic in a bzImage
)

// kernelImage is a validated ELF file: where it goes and where it starts.
type kernelImage struct {
	entry      guestmem.GPA
	start, end guestmem.GPA // lowest p_paddr, highest p_paddr+p_memsz
	segments   []loadSegment
}

// loadSegment is one validated PT_LOAD with memsz > 0.
type loadSegment struct {
	index  int // program header index, for messages
	offset uint64
	paddr  guestmem.GPA
	filesz uint64
	memsz  uint64
}

func (s loadSegment) end() guestmem.GPA { return s.paddr + guestmem.GPA(s.memsz) }

// loadELF validates the ELF64 kernel in r and copies its PT_LOAD segments to
// their physical addresses in mem, zero-filling each past its file size.
func loadELF(mem *guestmem.Memory, r io.ReaderAt) (*kernelImage, error) {
	img, err := parseELF(mem, r)
	if err != nil {
		return nil, err
	}
	return img, img.load(mem, r)
}

// load copies the validated segments from r into mem.
func (img *kernelImage) load(mem *guestmem.Memory, r io.ReaderAt) error {
	for _, s := range img.segments {
		dst, err := mem.Slice(s.paddr, s.memsz)
		if err != nil { // parseELF checked it: only a bug gets here
			return fmt.Errorf("segment %d: %w", s.index, err)
		}
		if err := readFull(r, dst[:s.filesz], int64(s.offset)); err != nil {
			return fmt.Errorf("reading segment %d (%d bytes at file offset %#x): %w", s.index, s.filesz, s.offset, err)
		}
		clear(dst[s.filesz:])
	}
	return nil
}

// parseELF reads and checks the headers; it writes nothing.
func parseELF(mem *guestmem.Memory, r io.ReaderAt) (*kernelImage, error) {
	var raw [elfHeaderSize]byte
	n, err := r.ReadAt(raw[:], 0)
	if n < len(raw) && err != nil && !isEOF(err) {
		return nil, fmt.Errorf("reading ELF header: %w", err)
	}
	if n < len(elf.ELFMAG) || string(raw[:len(elf.ELFMAG)]) != elf.ELFMAG {
		return nil, notELF(r, raw[:n])
	}
	if n < len(raw) {
		return nil, fmt.Errorf("%w: file ends after %d bytes, inside the %d-byte ELF header", ErrBadELF, n, elfHeaderSize)
	}
	switch c := elf.Class(raw[elf.EI_CLASS]); c {
	case elf.ELFCLASS64:
	case elf.ELFCLASS32:
		return nil, fmt.Errorf("%w: a 32-bit ELF file (ELFCLASS32)", ErrNotELF)
	default:
		return nil, fmt.Errorf("%w: ELF class %d", ErrNotELF, uint8(c))
	}
	if d := elf.Data(raw[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%w: data encoding %v, want ELFDATA2LSB", ErrNotELF, d)
	}
	if v := elf.Version(raw[elf.EI_VERSION]); v != elf.EV_CURRENT {
		return nil, fmt.Errorf("%w: ELF version %d, want 1", ErrBadELF, uint8(v))
	}
	var h elf.Header64
	if _, err := binary.Decode(raw[:], binary.LittleEndian, &h); err != nil {
		return nil, fmt.Errorf("%w: ELF header: %v", ErrBadELF, err)
	}
	if m := elf.Machine(h.Machine); m != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: machine %v, want EM_X86_64", ErrNotELF, m)
	}
	if t := elf.Type(h.Type); t != elf.ET_EXEC {
		return nil, fmt.Errorf("%w: ELF type %v, want ET_EXEC", ErrNotELF, t)
	}
	progs, err := readProgramHeaders(r, &h)
	if err != nil {
		return nil, err
	}

	img := &kernelImage{entry: guestmem.GPA(h.Entry)}
	for i, p := range progs {
		if elf.ProgType(p.Type) != elf.PT_LOAD {
			continue
		}
		s, err := checkSegment(mem, r, i, &p)
		if err != nil {
			return nil, err
		}
		if s.memsz == 0 {
			continue
		}
		if len(img.segments) == 0 || s.paddr < img.start {
			img.start = s.paddr
		}
		img.end = max(img.end, s.end())
		img.segments = append(img.segments, s)
	}
	if len(img.segments) == 0 {
		return nil, fmt.Errorf("%w: no PT_LOAD segment with a non-zero memory size", ErrBadELF)
	}
	if err := checkOverlaps(img.segments); err != nil {
		return nil, err
	}
	return img, checkEntry(img)
}

// notELF explains what a non-ELF file looks like.
func notELF(r io.ReaderAt, head []byte) error {
	if len(head) == 0 {
		return fmt.Errorf("%w: the file is empty", ErrNotELF)
	}
	var magic [len(bzImageMagic)]byte
	if err := readFull(r, magic[:], bzImageMagicOff); err == nil && string(magic[:]) == bzImageMagic {
		return fmt.Errorf("%w: a bzImage (boot header %q at %#x); hull boots the ELF vmlinux",
			ErrNotELF, bzImageMagic, bzImageMagicOff)
	}
	return fmt.Errorf("%w: starts with %q", ErrNotELF, head[:min(len(head), len(elf.ELFMAG))])
}

// readProgramHeaders reads the program header table after checking its
// size and position.
func readProgramHeaders(r io.ReaderAt, h *elf.Header64) ([]elf.Prog64, error) {
	switch {
	case h.Phentsize != elfProgHeaderSize:
		return nil, fmt.Errorf("%w: program header size %d, want %d", ErrBadELF, h.Phentsize, elfProgHeaderSize)
	case h.Phnum == 0:
		return nil, fmt.Errorf("%w: no program headers", ErrBadELF)
	case h.Phnum > maxProgramHeaders:
		return nil, fmt.Errorf("%w: %d program headers, at most %d are accepted", ErrBadELF, h.Phnum, maxProgramHeaders)
	}
	size := uint64(h.Phnum) * elfProgHeaderSize
	if h.Phoff > math.MaxInt64-size {
		return nil, fmt.Errorf("%w: program header table offset %#x is out of range", ErrBadELF, h.Phoff)
	}
	buf := make([]byte, size)
	if err := readFull(r, buf, int64(h.Phoff)); err != nil {
		if isEOF(err) {
			return nil, fmt.Errorf("%w: program header table [%#x, %#x) lies past the end of the file",
				ErrBadELF, h.Phoff, h.Phoff+size)
		}
		return nil, fmt.Errorf("reading program headers: %w", err)
	}
	progs := make([]elf.Prog64, h.Phnum)
	if _, err := binary.Decode(buf, binary.LittleEndian, progs); err != nil {
		return nil, fmt.Errorf("%w: program headers: %v", ErrBadELF, err)
	}
	return progs, nil
}

// checkSegment validates one PT_LOAD: sizes, file range, and placement in
// guest RAM at or above HighMemStart and outside the MMIO gap.
func checkSegment(mem *guestmem.Memory, r io.ReaderAt, i int, p *elf.Prog64) (loadSegment, error) {
	s := loadSegment{index: i, offset: p.Off, paddr: guestmem.GPA(p.Paddr), filesz: p.Filesz, memsz: p.Memsz}
	if p.Filesz > p.Memsz {
		return s, fmt.Errorf("%w: segment %d: file size %#x exceeds memory size %#x", ErrBadELF, i, p.Filesz, p.Memsz)
	}
	if p.Filesz > math.MaxInt64 || p.Off > math.MaxInt64-p.Filesz {
		return s, fmt.Errorf("%w: segment %d: file range at %#x of %#x bytes is out of range", ErrBadELF, i, p.Off, p.Filesz)
	}
	if p.Memsz == 0 {
		return s, nil
	}
	if p.Paddr > math.MaxUint64-p.Memsz {
		return s, fmt.Errorf("%w: segment %d: [%#x, +%#x) wraps the address space", ErrBadELF, i, p.Paddr, p.Memsz)
	}
	start, end := p.Paddr, p.Paddr+p.Memsz
	switch {
	case start < uint64(HighMemStart):
		return s, fmt.Errorf("%w: segment %d at [%#x, %#x) starts below %#x", ErrSegmentOutsideRAM, i, start, end, uint64(HighMemStart))
	case start < uint64(MMIOGapEnd) && end > uint64(MMIOGapStart):
		return s, fmt.Errorf("%w: segment %d at [%#x, %#x) overlaps the MMIO gap [%#x, %#x)",
			ErrSegmentOutsideRAM, i, start, end, uint64(MMIOGapStart), uint64(MMIOGapEnd))
	case !mem.Contains(s.paddr, s.memsz):
		return s, fmt.Errorf("%w: segment %d at [%#x, %#x) is not inside guest RAM of %d MiB",
			ErrSegmentOutsideRAM, i, start, end, mem.Size()>>20)
	}
	if p.Filesz > 0 { // probe the last byte so a short file fails before any write
		var last [1]byte
		if err := readFull(r, last[:], int64(p.Off+p.Filesz-1)); err != nil {
			if isEOF(err) {
				return s, fmt.Errorf("%w: segment %d: file bytes [%#x, %#x) lie past the end of the file",
					ErrBadELF, i, p.Off, p.Off+p.Filesz)
			}
			return s, fmt.Errorf("reading segment %d: %w", i, err)
		}
	}
	return s, nil
}

// checkOverlaps rejects segments that share guest bytes: linkers never
// emit them, and a later one would silently overwrite an earlier one.
func checkOverlaps(segs []loadSegment) error {
	sorted := slices.Clone(segs)
	slices.SortFunc(sorted, func(a, b loadSegment) int { return cmp.Compare(a.paddr, b.paddr) })
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if b.paddr < a.end() {
			return fmt.Errorf("%w: segments %d [%#x, %#x) and %d [%#x, %#x) overlap", ErrBadELF,
				a.index, uint64(a.paddr), uint64(a.end()), b.index, uint64(b.paddr), uint64(b.end()))
		}
	}
	return nil
}

// checkEntry requires the entry point to be loaded and reachable through
// the boot page tables.
func checkEntry(img *kernelImage) error {
	for _, s := range img.segments {
		if img.entry >= s.paddr && img.entry < s.end() {
			if uint64(img.entry) >= IdentityMapSize {
				return fmt.Errorf("%w: entry point %#x lies above the first %d GiB mapped at entry",
					ErrBadELF, uint64(img.entry), IdentityMapSize>>30)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: entry point %#x lies outside every loaded segment", ErrBadELF, uint64(img.entry))
}

// readFull reads len(p) bytes at off. A ReaderAt may return io.EOF with a
// full buffer at the end of its data; that is success. A short read without
// an error (a broken ReaderAt) becomes io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// isEOF reports whether err means the data ended early.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
