package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// Segment is a segment register as the VMM loads it: the same fields with
// the same meaning as struct kvm_segment (Limit is in bytes, already scaled
// by G). All segments this package produces are present and usable.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8 // descriptor type field, bits 43:40
	Present  uint8
	DPL      uint8
	DB       uint8 // default operation size (D/B)
	S        uint8 // 1: code or data, 0: system (TSS)
	L        uint8 // 64-bit code segment
	G        uint8 // limit granularity: 4 KiB units
	AVL      uint8
}

// Table is a descriptor-table register (GDTR, IDTR), as struct kvm_dtable.
type Table struct {
	Base  uint64
	Limit uint16
}

// Segment descriptor bits (Intel SDM vol. 3A §3.4.5, Figure 3-8; the 64-bit
// system descriptor is Figure 8-4).
const (
	descLimitLowMask  = 0xffff     // limit 15:0 at bits 15:0
	descBaseLowShift  = 16         // base 23:0 at bits 39:16
	descBaseLowMask   = 0xffffff   // base bits held in the low field
	descTypeShift     = 40         // type at bits 43:40
	descTypeMask      = 0xf        // 4 bits
	descS             = 1 << 44    // code/data (1) or system (0)
	descDPLShift      = 45         // privilege level at bits 46:45
	descDPLMask       = 0x3        // 2 bits
	descP             = 1 << 47    // present
	descLimitHiShift  = 48         // limit 19:16 at bits 51:48
	descLimitHiMask   = 0xf        // 4 bits
	descAVL           = 1 << 52    // available to software
	descL             = 1 << 53    // 64-bit code
	descDB            = 1 << 54    // default operand size
	descG             = 1 << 55    // 4 KiB granularity
	descBaseHiShift   = 56         // base 31:24 at bits 63:56
	descBaseHiMask    = 0xff       // 8 bits
	descRawLimitMax   = 0xfffff    // the 20-bit limit field
	descGranularShift = 12         // G scales the limit by 4 KiB
	descGranularLow   = 0xfff      // low limit bits implied by G
	gdtEntrySize      = 8          // one descriptor
	gdtEntryCount     = 6          // null, unused, code, data, TSS (2 slots)
	segFlatLimit      = 0xffffffff // 4 GiB flat segment, byte-granular view
)

// Descriptor type values (SDM vol. 3A Table 3-1 and Table 3-2).
const (
	segTypeDataRWAccessed         = 0x3 // read/write data, accessed
	segTypeCodeExecReadAcc        = 0xb // execute/read code, accessed
	segTypeTSS64Busy              = 0xb // 64-bit TSS (busy), S=0
	segTypeAccessedBit            = 0x1 // VM entry wants every usable segment accessed (SDM vol. 3C §27.3.1.2)
	selectorIndexShift            = 3   // a selector is index<<3 | TI | RPL
	gdtIndexBootCS                = 2   // __BOOT_CS = 0x10 (arch/x86/include/asm/segment.h)
	gdtIndexBootDS                = 3   // __BOOT_DS = 0x18
	gdtIndexTSS                   = 4   // TR; its descriptor also fills slot 5
	bootCodeSelector       uint16 = gdtIndexBootCS << selectorIndexShift
	bootDataSelector       uint16 = gdtIndexBootDS << selectorIndexShift
	bootTSSSelector        uint16 = gdtIndexTSS << selectorIndexShift
)

// The boot segments. The Linux 64-bit boot protocol (Documentation/arch/x86/
// boot.rst, "64-bit Boot Protocol") asks for a GDT with 4 GiB flat segments
// at __BOOT_CS (0x10, execute/read) and __BOOT_DS (0x18, read/write), CS =
// __BOOT_CS and DS = ES = SS = __BOOT_DS; this GDT follows it to the letter
// (Firecracker uses 0x08/0x10, which works only because startup_64 reloads
// the segments at once). FS and GS get the data segment too. Slot 1 is left
// null, where Linux's own boot GDT keeps __KERNEL32_CS.
var (
	bootCS = Segment{Selector: bootCodeSelector, Limit: segFlatLimit, Type: segTypeCodeExecReadAcc,
		Present: 1, S: 1, L: 1, G: 1}
	bootDS = Segment{Selector: bootDataSelector, Limit: segFlatLimit, Type: segTypeDataRWAccessed,
		Present: 1, S: 1, DB: 1, G: 1}
	bootTR = Segment{Selector: bootTSSSelector, Base: uint64(TSSAddr), Limit: TSSSize - 1,
		Type: segTypeTSS64Busy, Present: 1}
)

// encodeDescriptor packs the low 8 bytes of a descriptor for s. A limit that
// G cannot express (G set but low 12 bits not all ones, or a byte-granular
// limit over 20 bits) is an error in this package's tables, reported rather
// than silently rounded.
func encodeDescriptor(s Segment) (uint64, error) {
	raw := s.Limit
	if s.G != 0 {
		if raw&descGranularLow != descGranularLow {
			return 0, fmt.Errorf("segment %#x: limit %#x is not a multiple of 4 KiB minus 1", s.Selector, s.Limit)
		}
		raw >>= descGranularShift
	}
	if raw > descRawLimitMax {
		return 0, fmt.Errorf("segment %#x: limit %#x does not fit 20 bits", s.Selector, s.Limit)
	}
	d := uint64(raw)&descLimitLowMask |
		(s.Base&descBaseLowMask)<<descBaseLowShift |
		uint64(s.Type&descTypeMask)<<descTypeShift |
		uint64(s.DPL&descDPLMask)<<descDPLShift |
		uint64(raw>>16&descLimitHiMask)<<descLimitHiShift |
		(s.Base>>24&descBaseHiMask)<<descBaseHiShift
	for _, f := range []struct {
		set uint8
		bit uint64
	}{{s.S, descS}, {s.Present, descP}, {s.AVL, descAVL}, {s.L, descL}, {s.DB, descDB}, {s.G, descG}} {
		if f.set != 0 {
			d |= f.bit
		}
	}
	return d, nil
}

// decodeDescriptor is the inverse of encodeDescriptor for the low 8 bytes;
// hi is the second slot of a system descriptor (base 63:32), 0 otherwise.
func decodeDescriptor(d, hi uint64, selector uint16) Segment {
	bit := func(b uint64) uint8 {
		if d&b != 0 {
			return 1
		}
		return 0
	}
	limit := uint32(d&descLimitLowMask) | uint32(d>>descLimitHiShift&descLimitHiMask)<<16
	s := Segment{
		Base:     d>>descBaseLowShift&descBaseLowMask | (d>>descBaseHiShift&descBaseHiMask)<<24 | hi<<32,
		Selector: selector,
		Type:     uint8(d >> descTypeShift & descTypeMask),
		Present:  bit(descP),
		DPL:      uint8(d >> descDPLShift & descDPLMask),
		DB:       bit(descDB),
		S:        bit(descS),
		L:        bit(descL),
		G:        bit(descG),
		AVL:      bit(descAVL),
	}
	if s.G != 0 {
		limit = limit<<descGranularShift | descGranularLow
	}
	s.Limit = limit
	return s
}

// gdtBytes builds the boot GDT.
func gdtBytes() ([]byte, error) {
	b := make([]byte, GDTSize)
	for _, s := range []Segment{bootCS, bootDS, bootTR} {
		d, err := encodeDescriptor(s)
		if err != nil {
			return nil, err
		}
		off := int(s.Selector)
		binary.LittleEndian.PutUint64(b[off:], d)
		if s.S == 0 { // 64-bit system descriptor: base 63:32 in the next slot
			binary.LittleEndian.PutUint64(b[off+gdtEntrySize:], s.Base>>32)
		}
	}
	return b, nil
}

// writeDescriptorTables writes the GDT, the empty IDT and the TSS, and
// returns the segment and table registers that describe them.
func writeDescriptorTables(mem *guestmem.Memory, cpu *CPUState) error {
	gdt, err := gdtBytes()
	if err != nil {
		return err
	}
	if err := mem.WriteAt(gdt, GDTAddr); err != nil {
		return fmt.Errorf("GDT: %w", err)
	}
	if err := mem.Zero(IDTAddr, IDTSize); err != nil {
		return fmt.Errorf("IDT: %w", err)
	}
	if err := mem.Zero(TSSAddr, TSSSize); err != nil {
		return fmt.Errorf("TSS: %w", err)
	}
	cpu.GDT = Table{Base: uint64(GDTAddr), Limit: GDTSize - 1}
	cpu.IDT = Table{Base: uint64(IDTAddr), Limit: IDTSize - 1}
	cpu.CS = bootCS
	cpu.DS, cpu.ES, cpu.FS, cpu.GS, cpu.SS = bootDS, bootDS, bootDS, bootDS, bootDS
	cpu.TR = bootTR
	return nil
}
