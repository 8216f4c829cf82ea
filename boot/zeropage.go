package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// struct boot_params ("zero page") offsets, as Documentation/arch/x86/
// zero-page.rst and boot.rst ("The real-mode kernel header") give them and
// arch/x86/include/uapi/asm/bootparam.h lays them out. Only the fields a
// 64-bit direct boot must fill are named; everything else stays zero. Names
// follow the kernel's field names.
const (
	bpExtRamdiskImage = 0x0c0 // u32: ramdisk_image bits 63:32
	bpExtRamdiskSize  = 0x0c4 // u32: ramdisk_size bits 63:32
	bpExtCmdLinePtr   = 0x0c8 // u32: cmd_line_ptr bits 63:32
	bpE820Entries     = 0x1e8 // u8: number of entries in e820_table
	bpSetupHeader     = 0x1f1 // struct setup_header starts here
	bpBootFlag        = 0x1fe // u16: 0xAA55
	bpHeader          = 0x202 // u32: "HdrS"
	bpVersion         = 0x206 // u16: boot protocol version
	bpTypeOfLoader    = 0x210 // u8
	bpLoadflags       = 0x211 // u8
	bpRamdiskImage    = 0x218 // u32
	bpRamdiskSize     = 0x21c // u32
	bpCmdLinePtr      = 0x228 // u32
	bpKernelAlignment = 0x230 // u32
	bpCmdlineSize     = 0x238 // u32
	bpE820Table       = 0x2d0 // struct boot_e820_entry[E820_MAX_ENTRIES_ZEROPAGE]
)

// Values written into the setup header.
const (
	bootFlagMagic = 0xaa55     // boot_flag: "the closest thing old Linux kernels have to a magic number"
	headerMagic   = 0x53726448 // header: "HdrS" read little-endian
	// protocolVersion is version: a "read" field that a bzImage's own header
	// carries. A vmlinux has none, so we state 2.15 (Linux 5.5+), the
	// protocol whose field layout we fill; no field we write is newer.
	protocolVersion = 0x020f
	// typeOfLoaderUndefined is type_of_loader 0xFF, "Special (0xFF =
	// undefined)" for a boot loader without an assigned id. It must be
	// non-zero: Linux ignores ramdisk_image when type_of_loader is 0
	// (early_reserve_initrd).
	typeOfLoaderUndefined = 0xff
	// loadflagsLoadedHigh (bit 0, LOADED_HIGH): the protected-mode kernel
	// is loaded high, not at 0x10000. The only loadflags bit that applies:
	// KASLR_FLAG (bit 1) is the decompressor's to set and must stay clear
	// (no decompressor ran, nothing was randomised); QUIET_FLAG (bit 5)
	// would silence early console output we want; KEEP_SEGMENTS (bit 6)
	// concerns the 32-bit entry point only and is obsolete; CAN_USE_HEAP
	// (bit 7) concerns the real-mode setup code, which never runs.
	loadflagsLoadedHigh = 1 << 0
	// kernelAlignment is kernel_alignment: 16 MiB, the largest
	// CONFIG_PHYSICAL_ALIGN and the address a vmlinux is linked at;
	// Firecracker writes the same. Only a kernel that relocates itself
	// (the bzImage decompressor) reads it; a direct-boot vmlinux runs
	// where it was loaded.
	kernelAlignment = 0x1000000
)

// zeroPage is what the zero page tells the kernel.
type zeroPage struct {
	cmdlineAddr guestmem.GPA
	cmdlineSize uint32 // cmdline_size: the buffer's capacity without the NUL
	initrdAddr  guestmem.GPA
	initrdSize  uint64
	e820        []E820Entry
}

// bytes renders the zero page. Addresses are 32-bit in the setup header and
// their high halves go to the ext_* fields; with this package's memory map
// the high halves are always 0, but writing them keeps the page honest.
func (z *zeroPage) bytes() ([]byte, error) {
	if len(z.e820) > e820MaxEntries {
		return nil, fmt.Errorf("%w: %d e820 entries, the zero page holds %d", ErrMemoryLayout, len(z.e820), e820MaxEntries)
	}
	b := make([]byte, ZeroPageSize)
	le := binary.LittleEndian
	le.PutUint16(b[bpBootFlag:], bootFlagMagic)
	le.PutUint32(b[bpHeader:], headerMagic)
	le.PutUint16(b[bpVersion:], protocolVersion)
	b[bpTypeOfLoader] = typeOfLoaderUndefined
	b[bpLoadflags] = loadflagsLoadedHigh
	le.PutUint32(b[bpKernelAlignment:], kernelAlignment)

	le.PutUint32(b[bpCmdLinePtr:], uint32(z.cmdlineAddr))
	le.PutUint32(b[bpExtCmdLinePtr:], uint32(z.cmdlineAddr>>32))
	le.PutUint32(b[bpCmdlineSize:], z.cmdlineSize)

	le.PutUint32(b[bpRamdiskImage:], uint32(z.initrdAddr))
	le.PutUint32(b[bpExtRamdiskImage:], uint32(z.initrdAddr>>32))
	le.PutUint32(b[bpRamdiskSize:], uint32(z.initrdSize))
	le.PutUint32(b[bpExtRamdiskSize:], uint32(z.initrdSize>>32))

	b[bpE820Entries] = uint8(len(z.e820))
	for i, e := range z.e820 {
		off := bpE820Table + i*e820EntrySize
		le.PutUint64(b[off:], e.Addr)
		le.PutUint64(b[off+8:], e.Size)
		le.PutUint32(b[off+16:], e.Type)
	}
	return b, nil
}

// writeZeroPage writes the whole zero page at ZeroPageAddr.
func writeZeroPage(mem *guestmem.Memory, z *zeroPage) error {
	b, err := z.bytes()
	if err != nil {
		return err
	}
	if err := mem.WriteAt(b, ZeroPageAddr); err != nil {
		return fmt.Errorf("zero page: %w", err)
	}
	return nil
}
