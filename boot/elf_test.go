package boot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

func TestLoadELF(t *testing.T) {
	mem := newMemRanges(t, rangeOf(0, 32<<20)) // past the data segment at 20 MiB
	text := bytes.Repeat([]byte{0x90}, 0x1234)
	data := []byte("initialised data")
	const textAt, dataAt = 0x1000000, 0x1400000
	file := buildELF(textAt+0x10,
		testSegment{paddr: textAt, memsz: uint64(len(text)), data: text},
		testSegment{typ: elf.PT_NOTE, paddr: 0, memsz: 0, data: []byte("note")},
		testSegment{paddr: dataAt, memsz: 0x3000, data: data},
		testSegment{paddr: 0x1800000, memsz: 0}, // empty PT_LOAD: ignored
	)
	// Dirty the bss so zero-filling shows.
	if err := mem.WriteAt(bytes.Repeat([]byte{0xee}, 0x3000), dataAt); err != nil {
		t.Fatal(err)
	}
	img, err := loadELF(mem, bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if img.entry != textAt+0x10 || img.start != textAt || img.end != dataAt+0x3000 {
		t.Errorf("entry %#x start %#x end %#x", uint64(img.entry), uint64(img.start), uint64(img.end))
	}
	if got := readBytes(t, mem, textAt, len(text)); !bytes.Equal(got, text) {
		t.Error("text segment differs")
	}
	got := readBytes(t, mem, dataAt, 0x3000)
	if !bytes.Equal(got[:len(data)], data) {
		t.Error("data segment differs")
	}
	if !bytes.Equal(got[len(data):], make([]byte, 0x3000-len(data))) {
		t.Error("bss not zeroed")
	}
}

// TestLoadELFAboveGap loads a segment into RAM above 4 GiB.
func TestLoadELFAboveGap(t *testing.T) {
	mem := newMemRanges(t, guestmem.Range{Base: 0, Size: 2 << 20}, guestmem.Range{Base: MMIOGapEnd, Size: 1 << 20})
	file := buildELF(uint64(HighMemStart),
		testSegment{paddr: uint64(HighMemStart), memsz: 16, data: []byte("0123456789abcdef")},
		testSegment{paddr: uint64(MMIOGapEnd), memsz: 32, data: []byte("high")})
	img, err := loadELF(mem, bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if img.end != MMIOGapEnd+32 || string(readBytes(t, mem, MMIOGapEnd, 4)) != "high" {
		t.Errorf("end %#x", uint64(img.end))
	}
}

func TestLoadELFRejects(t *testing.T) {
	const at, ram = 0x100000, 2 << 20
	valid := func(mutate func(h *elf.Header64, p []elf.Prog64)) []byte {
		f := buildELF(at, testSegment{paddr: at, memsz: 0x2000, data: make([]byte, 0x100)})
		var h elf.Header64
		mustDecode(f, &h)
		progs := make([]elf.Prog64, h.Phnum)
		mustDecode(f[h.Phoff:], progs)
		mutate(&h, progs)
		var buf bytes.Buffer
		mustWrite(&buf, h)
		mustWrite(&buf, progs)
		return append(buf.Bytes(), f[buf.Len():]...)
	}
	bz := make([]byte, 0x400)
	copy(bz, "MZ")
	copy(bz[bzImageMagicOff:], bzImageMagic)

	for _, c := range []struct {
		name string
		file []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotELF, "empty"},
		{"text", []byte("#!/bin/sh\necho hi\n"), ErrNotELF, `starts with "#!/b"`},
		{"pe", []byte("MZ\x90\x00"), ErrNotELF, `starts with "MZ\x90\x00"`},
		{"bzImage", bz, ErrNotELF, "bzImage"},
		{"short header", buildELF(at, testSegment{paddr: at, memsz: 1})[:40], ErrBadELF, "inside the 64-byte ELF header"},
		{"elf32", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32) }), ErrNotELF, "32-bit"},
		{"class 7", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Ident[elf.EI_CLASS] = 7 }), ErrNotELF, "class 7"},
		{"big endian", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB) }), ErrNotELF, "ELFDATA2MSB"},
		{"version", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Ident[elf.EI_VERSION] = 9 }), ErrBadELF, "version 9"},
		{"aarch64", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Machine = uint16(elf.EM_AARCH64) }), ErrNotELF, "EM_AARCH64"},
		{"shared object", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Type = uint16(elf.ET_DYN) }), ErrNotELF, "ET_DYN"},
		{"phentsize", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Phentsize = 32 }), ErrBadELF, "program header size 32"},
		{"no phdrs", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Phnum = 0 }), ErrBadELF, "no program headers"},
		{"PN_XNUM", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Phnum = 0xffff }), ErrBadELF, "65535 program headers"},
		{"phoff past end", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Phoff = 1 << 20 }), ErrBadELF, "past the end of the file"},
		{"phoff huge", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Phoff = math.MaxUint64 - 8 }), ErrBadELF, "out of range"},
		{"no PT_LOAD", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Type = uint32(elf.PT_NOTE) }), ErrBadELF, "no PT_LOAD"},
		{"filesz > memsz", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Memsz = 0x10 }), ErrBadELF, "exceeds memory size"},
		{"offset past end", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Off = 1 << 30 }), ErrBadELF, "past the end of the file"},
		{"filesz past end", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Filesz = 0x2000 }), ErrBadELF, "past the end of the file"},
		{"offset overflow", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Off = math.MaxUint64 - 0x10 }), ErrBadELF, "out of range"},
		{"filesz > MaxInt64", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Filesz, p[0].Memsz = 1<<63+1, 1<<63+1 }), ErrBadELF, "out of range"},
		{"paddr overflow", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = math.MaxUint64 - 0x10 }), ErrBadELF, "wraps"},
		{"below 1 MiB", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = 0x7000 }), ErrSegmentOutsideRAM, "starts below 0x100000"},
		{"straddles 1 MiB", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = 0xff000 }), ErrSegmentOutsideRAM, "segment 0 at [0xff000, 0x101000)"},
		{"in MMIO gap", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = uint64(MMIOGapStart) }), ErrSegmentOutsideRAM, "MMIO gap"},
		{"into MMIO gap", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = uint64(MMIOGapStart) - 0x1000 }), ErrSegmentOutsideRAM, "MMIO gap"},
		{"past RAM", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = ram - 0x1000 }), ErrSegmentOutsideRAM, "not inside guest RAM"},
		{"huge memsz", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Memsz = 1 << 62 }), ErrSegmentOutsideRAM, "MMIO gap"},
		{"above 4G no RAM", valid(func(_ *elf.Header64, p []elf.Prog64) { p[0].Paddr = 1 << 40 }), ErrSegmentOutsideRAM, "not inside guest RAM"},
		{"entry outside", valid(func(h *elf.Header64, _ []elf.Prog64) { h.Entry = at + 0x2000 }), ErrBadELF, "entry point 0x102000"},
		{"overlap", buildELF(at,
			testSegment{paddr: at, memsz: 0x2000, data: []byte{1}},
			testSegment{paddr: at + 0x1000, memsz: 0x10, data: []byte{2}}), ErrBadELF, "overlap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := newMemRanges(t, guestmem.Range{Base: 0, Size: ram})
			before := snapshot(mem)
			_, err := loadELF(mem, bytes.NewReader(c.file))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("loadELF = %v, want %v saying %q", err, c.want, c.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line message %q", err)
			}
			if !equalSnapshots(before, snapshot(mem)) {
				t.Error("a rejected file changed guest memory")
			}
		})
	}
}

func TestLoadELFEntryAbove4G(t *testing.T) {
	mem := newMemRanges(t, guestmem.Range{Base: 0, Size: 2 << 20}, guestmem.Range{Base: MMIOGapEnd, Size: 1 << 20})
	file := buildELF(uint64(MMIOGapEnd), testSegment{paddr: uint64(MMIOGapEnd), memsz: 16, data: []byte{0xf4}})
	if _, err := loadELF(mem, bytes.NewReader(file)); !errors.Is(err, ErrBadELF) || !strings.Contains(err.Error(), "mapped at entry") {
		t.Fatalf("loadELF = %v", err)
	}
}

// failingReader fails every read past its data with a non-EOF error.
type failingReader struct{ data []byte }

var errDisk = errors.New("disk on fire")

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.data)) {
		return 0, errDisk
	}
	n := copy(p, r.data[off:])
	if n < len(p) {
		return n, errDisk
	}
	return n, nil
}

// shortReader returns at most 128 bytes per read and no error (a broken
// io.ReaderAt), which must not pass as success.
type shortReader struct{ data []byte }

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.data)) {
		return 0, nil
	}
	return copy(p[:min(len(p), 128)], r.data[off:]), nil
}

func TestLoadELFReadErrors(t *testing.T) {
	file := tinyKernel()
	big := buildELF(uint64(HighMemStart), testSegment{paddr: uint64(HighMemStart), memsz: 0x1000, data: make([]byte, 0x200)})
	for _, c := range []struct {
		name string
		r    io.ReaderAt
		want error
	}{
		{"header", failingReader{file[:10]}, errDisk},
		{"segment", failingReader{file[:len(file)-1]}, errDisk},
		{"short", shortReader{big}, io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadELF(newMemRanges(t, guestmem.Range{Base: 0, Size: 2 << 20}), c.r)
			if !errors.Is(err, c.want) {
				t.Fatalf("loadELF = %v, want %v", err, c.want)
			}
		})
	}
}

func mustDecode(b []byte, v any) {
	if _, err := binary.Decode(b, binary.LittleEndian, v); err != nil {
		panic(err)
	}
}

func equalSnapshots(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// declaredLoads decodes the PT_LOAD ranges of a file independently of the
// loader (plain offsets, no validation) for the fuzz property. ok is false
// when the file has no readable program header table.
func declaredLoads(file []byte) (loads []elf.Prog64, ok bool) {
	if len(file) < elfHeaderSize {
		return nil, false
	}
	phoff := binary.LittleEndian.Uint64(file[32:])
	phnum := uint64(binary.LittleEndian.Uint16(file[56:]))
	if phoff > uint64(len(file)) || phnum*elfProgHeaderSize > uint64(len(file))-phoff {
		return nil, false
	}
	for i := range phnum {
		var p elf.Prog64
		mustDecode(file[phoff+i*elfProgHeaderSize:], &p)
		if elf.ProgType(p.Type) == elf.PT_LOAD {
			loads = append(loads, p)
		}
	}
	return loads, true
}

// FuzzLoadELF: whatever the file, loadELF does not panic; a rejected file
// leaves guest memory untouched; an accepted one changes only bytes inside
// its PT_LOAD ranges, which then hold the file's bytes followed by zeros.
func FuzzLoadELF(f *testing.F) {
	f.Add(tinyKernel())
	f.Add(buildELF(uint64(HighMemStart)+4,
		testSegment{paddr: uint64(HighMemStart), memsz: 0x200, data: []byte("code")},
		testSegment{paddr: uint64(HighMemStart) + 0x1000, memsz: 0x40, data: []byte("data")},
		testSegment{paddr: uint64(MMIOGapEnd), memsz: 0x100, data: []byte("high")}))
	ranges := []guestmem.Range{{Base: HighMemStart, Size: 256 << 10}, {Base: MMIOGapEnd, Size: 16 << 10}}
	f.Fuzz(func(t *testing.T, file []byte) {
		mem, err := guestmem.NewBytes(ranges...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range mem.Regions() {
			for i := range r.Host {
				r.Host[i] = 0xa5
			}
		}
		before := snapshot(mem)
		img, err := loadELF(mem, bytes.NewReader(file))
		if err != nil {
			if !equalSnapshots(before, snapshot(mem)) {
				t.Fatalf("rejected file (%v) changed guest memory", err)
			}
			if errors.Is(err, ErrNotELF) || errors.Is(err, ErrBadELF) || errors.Is(err, ErrSegmentOutsideRAM) {
				return
			}
			t.Fatalf("error matches no sentinel: %v", err)
		}
		loads, ok := declaredLoads(file)
		if !ok {
			t.Fatal("accepted a file without a readable program header table")
		}
		// Expected memory: the snapshot with each declared segment applied.
		want := newMemRanges(t, ranges...)
		for i, r := range want.Regions() {
			copy(r.Host, before[i])
		}
		for _, p := range loads {
			if p.Memsz == 0 {
				continue
			}
			dst, err := want.Slice(guestmem.GPA(p.Paddr), p.Memsz)
			if err != nil {
				t.Fatalf("accepted segment [%#x, +%#x) outside RAM: %v", p.Paddr, p.Memsz, err)
			}
			if p.Paddr < uint64(HighMemStart) {
				t.Fatalf("accepted segment at %#x below HighMemStart", p.Paddr)
			}
			clear(dst[copy(dst, file[p.Off:p.Off+p.Filesz]):])
		}
		if !equalSnapshots(snapshot(want), snapshot(mem)) {
			t.Fatal("guest memory differs from the declared segments")
		}
		if img.end <= img.start || img.entry < img.start || img.entry >= img.end {
			t.Fatalf("image start %#x end %#x entry %#x", uint64(img.start), uint64(img.end), uint64(img.entry))
		}
	})
}
