package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestZeroPageBytes writes a zero page over a dirty page and compares every
// byte with offsets typed in from Documentation/arch/x86/boot.rst and
// zero-page.rst (not the package's constants): the named fields hold their
// values and every other byte is zero.
func TestZeroPageBytes(t *testing.T) {
	mem := newLowMem(t)
	if err := mem.WriteAt(bytes.Repeat([]byte{0xcc}, ZeroPageSize), ZeroPageAddr); err != nil {
		t.Fatal(err)
	}
	e820 := []E820Entry{
		{Addr: 0, Size: 0x9fc00, Type: 1},
		{Addr: 0x9fc00, Size: 0x60400, Type: 2},
		{Addr: 0x100000, Size: 0x1f00000, Type: 1},
	}
	zp := &zeroPage{cmdlineAddr: 0x20000, cmdlineSize: 2047, initrdAddr: 0x1e00000, initrdSize: 0x123456, e820: e820}
	if err := writeZeroPage(mem, zp); err != nil {
		t.Fatal(err)
	}
	got := readBytes(t, mem, ZeroPageAddr, ZeroPageSize)

	want := make([]byte, 4096) // sizeof(struct boot_params)
	le := binary.LittleEndian
	want[0x1e8] = 3                        // e820_entries
	le.PutUint16(want[0x1fe:], 0xaa55)     // hdr.boot_flag
	le.PutUint32(want[0x202:], 0x53726448) // hdr.header "HdrS"
	le.PutUint16(want[0x206:], 0x020f)     // hdr.version
	want[0x210] = 0xff                     // hdr.type_of_loader
	want[0x211] = 0x01                     // hdr.loadflags: LOADED_HIGH
	le.PutUint32(want[0x218:], 0x1e00000)  // hdr.ramdisk_image
	le.PutUint32(want[0x21c:], 0x123456)   // hdr.ramdisk_size
	le.PutUint32(want[0x228:], 0x20000)    // hdr.cmd_line_ptr
	le.PutUint32(want[0x230:], 0x1000000)  // hdr.kernel_alignment
	le.PutUint32(want[0x238:], 2047)       // hdr.cmdline_size
	for i, e := range e820 {               // e820_table at 0x2d0, 20-byte packed entries
		le.PutUint64(want[0x2d0+20*i:], e.Addr)
		le.PutUint64(want[0x2d0+20*i+8:], e.Size)
		le.PutUint32(want[0x2d0+20*i+16:], e.Type)
	}
	if string(got[0x202:0x206]) != "HdrS" {
		t.Errorf("header magic %q", got[0x202:0x206])
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("zero page byte %#x = %#02x, want %#02x", i, got[i], want[i])
		}
	}
}

// TestZeroPageOffsets pins the named offsets to boot.rst / zero-page.rst.
func TestZeroPageOffsets(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"ext_ramdisk_image", bpExtRamdiskImage, 0x0c0},
		{"ext_ramdisk_size", bpExtRamdiskSize, 0x0c4},
		{"ext_cmd_line_ptr", bpExtCmdLinePtr, 0x0c8},
		{"e820_entries", bpE820Entries, 0x1e8},
		{"hdr", bpSetupHeader, 0x1f1},
		{"hdr.boot_flag", bpBootFlag, 0x1fe},
		{"hdr.header", bpHeader, 0x202},
		{"hdr.version", bpVersion, 0x206},
		{"hdr.type_of_loader", bpTypeOfLoader, 0x210},
		{"hdr.loadflags", bpLoadflags, 0x211},
		{"hdr.ramdisk_image", bpRamdiskImage, 0x218},
		{"hdr.ramdisk_size", bpRamdiskSize, 0x21c},
		{"hdr.cmd_line_ptr", bpCmdLinePtr, 0x228},
		{"hdr.kernel_alignment", bpKernelAlignment, 0x230},
		{"hdr.cmdline_size", bpCmdlineSize, 0x238},
		{"e820_table", bpE820Table, 0x2d0},
		{"sizeof(boot_e820_entry)", e820EntrySize, 20},
		{"E820_MAX_ENTRIES_ZEROPAGE", e820MaxEntries, 128},
	} {
		if c.got != c.want {
			t.Errorf("%s at %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// e820_table must end before the next field (eddbuf at 0xd00).
	if end := bpE820Table + e820MaxEntries*e820EntrySize; end != 0xcd0 {
		t.Errorf("e820_table ends at %#x, want 0xcd0", end)
	}
}

func TestZeroPageHighHalves(t *testing.T) {
	zp := &zeroPage{cmdlineAddr: 0x1_0002_0000, initrdAddr: 0x2_0000_1000, initrdSize: 0x3_0000_0004}
	b, err := zp.bytes()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for _, c := range []struct {
		off  int
		want uint32
	}{{0x228, 0x20000}, {0x0c8, 1}, {0x218, 0x1000}, {0x0c0, 2}, {0x21c, 4}, {0x0c4, 3}} {
		if got := le.Uint32(b[c.off:]); got != c.want {
			t.Errorf("offset %#x = %#x, want %#x", c.off, got, c.want)
		}
	}
}

func TestZeroPageTooManyE820(t *testing.T) {
	zp := &zeroPage{e820: make([]E820Entry, e820MaxEntries+1)}
	if _, err := zp.bytes(); !errors.Is(err, ErrMemoryLayout) {
		t.Fatalf("bytes() = %v", err)
	}
}
