package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// The MP table (Intel MultiProcessor Specification v1.4, chapter 4) tells a
// guest without ACPI how many processors there are and how interrupts are
// wired: one ISA bus, one IOAPIC, ISA IRQ n on IOAPIC pin n, the PIC on
// LINT0 (virtual wire) and NMI on LINT1 — the layout of KVM's in-kernel
// irqchip and of Firecracker's mptable.rs.

// MaxCPUs is the most vCPUs the boot structures describe: xAPIC IDs are 8
// bits, 0xff is the broadcast ID, and the IOAPIC takes the ID after the last
// CPU (MaxCPUs), so CPUs get 0..253.
const MaxCPUs = 254

// Sizes and fields of the MP structures (MP spec §4.1, §4.2, §4.3).
const (
	mpfSize         = 16 // MP floating pointer structure
	mpcHeaderSize   = 44 // MP configuration table header
	mpcCPUSize      = 20 // processor entry
	mpcEntrySize    = 8  // bus, I/O APIC, I/O and local interrupt entries
	mpfSignature    = "_MP_"
	mpcSignature    = "PCMP"
	mpSpecRev14     = 4 // specification revision 1.4
	mpfLength       = 1 // floating pointer length in 16-byte units
	mpcOEMID        = "HULL    "
	mpcProductID    = "HULL VM     "
	mpBusISA        = "ISA   "
	mpLINTCount     = 2 // LINT0 and LINT1
	mpIntCount      = IOAPICPins
	mpNoLAPICSource = 0    // source bus IRQ of a local interrupt entry
	mpAllLAPICs     = 0xff // destination local APIC ID: all
)

// Entry types (MP spec Table 4-3).
const (
	mpEntryProcessor = 0
	mpEntryBus       = 1
	mpEntryIOAPIC    = 2
	mpEntryIOInt     = 3
	mpEntryLocalInt  = 4
)

// Field values.
const (
	mpCPUEnabled       = 1 << 0 // processor entry CPU flags: EN
	mpCPUBootProcessor = 1 << 1 // BP
	// mpCPUSignature is the processor entry's CPU signature: family 6,
	// as Firecracker (CPU_STEPPING 0x600). Linux does not use it on 64-bit.
	mpCPUSignature   = 0x600
	mpCPUFeatureFPU  = 1 << 0 // processor entry feature flags, as CPUID.1:EDX
	mpCPUFeatureAPIC = 1 << 9
	// mpLAPICVersion is the local APIC version of an integrated APIC as
	// KVM's LAPIC reports it (APIC_VERSION 0x14 in arch/x86/kvm/lapic.c).
	mpLAPICVersion = 0x14
	// mpIOAPICVersion is KVM's in-kernel IOAPIC version (IOAPIC_VERSION_ID
	// 0x11 in arch/x86/kvm/ioapic.h).
	mpIOAPICVersion = 0x11
	mpIOAPICUsable  = 1 << 0 // I/O APIC entry flags: EN
	mpISABusID      = 0
	// Interrupt types (MP spec Table 4-8).
	mpIntINT    = 0 // vectored interrupt, vector from the APIC redirection entry
	mpIntNMI    = 1
	mpIntExtINT = 3 // vectored by an external 8259A
	// mpIntFlagsConform is polarity and trigger "conforms to the bus"
	// (ISA: active high, edge), MP spec Table 4-9.
	mpIntFlagsConform = 0
)

// mpTableSize is the size of the whole MP structure for nCPUs.
func mpTableSize(nCPUs int) int {
	return mpfSize + mpcHeaderSize + nCPUs*mpcCPUSize + mpcEntrySize /* bus */ + mpcEntrySize /* IOAPIC */ +
		mpIntCount*mpcEntrySize + mpLINTCount*mpcEntrySize
}

// mpChecksum returns the byte that makes the sum of b plus it zero.
func mpChecksum(b []byte) uint8 {
	var sum uint8
	for _, v := range b {
		sum += v
	}
	return -sum
}

// mpTable builds the floating pointer and configuration table for nCPUs,
// to be placed at MPTableAddr.
func mpTable(nCPUs int) ([]byte, error) {
	if nCPUs < 1 || nCPUs > MaxCPUs {
		return nil, fmt.Errorf("%w: %d vCPUs, the MP table describes 1..%d", ErrCPUCount, nCPUs, MaxCPUs)
	}
	le := binary.LittleEndian
	b := make([]byte, mpTableSize(nCPUs))
	ioapicID := uint8(nCPUs)

	// Floating pointer; feature bytes 1-5 zero: a configuration table is
	// present (byte 1 = 0) and the IMCR is absent, so virtual wire mode.
	mpf := b[:mpfSize]
	copy(mpf, mpfSignature)
	le.PutUint32(mpf[4:], uint32(MPTableAddr)+mpfSize) // PHYSICAL ADDRESS POINTER
	mpf[8] = mpfLength
	mpf[9] = mpSpecRev14

	cfg := b[mpfSize:]
	entries := cfg[mpcHeaderSize:]
	count := 0
	put := func(e []byte) {
		entries = entries[copy(entries, e):]
		count++
	}
	for id := range nCPUs {
		e := make([]byte, mpcCPUSize)
		e[0] = mpEntryProcessor
		e[1] = uint8(id)
		e[2] = mpLAPICVersion
		e[3] = mpCPUEnabled
		if id == 0 {
			e[3] |= mpCPUBootProcessor
		}
		le.PutUint32(e[4:], mpCPUSignature)
		le.PutUint32(e[8:], mpCPUFeatureFPU|mpCPUFeatureAPIC)
		put(e)
	}
	put(append([]byte{mpEntryBus, mpISABusID}, mpBusISA...))
	ioapic := []byte{mpEntryIOAPIC, ioapicID, mpIOAPICVersion, mpIOAPICUsable, 0, 0, 0, 0}
	le.PutUint32(ioapic[4:], uint32(IOAPICAddr))
	put(ioapic)
	// ISA IRQ n → IOAPIC pin n for every pin, as KVM's default GSI routing
	// (kvm_setup_default_irq_routing) and Firecracker do.
	for pin := range mpIntCount {
		put([]byte{mpEntryIOInt, mpIntINT, mpIntFlagsConform, 0, mpISABusID, uint8(pin), ioapicID, uint8(pin)})
	}
	// The 8259A PIC on the BSP's LINT0 (virtual wire mode, MP spec §3.6.2.2)
	// and NMI on every CPU's LINT1.
	put([]byte{mpEntryLocalInt, mpIntExtINT, mpIntFlagsConform, 0, mpISABusID, mpNoLAPICSource, 0, 0})
	put([]byte{mpEntryLocalInt, mpIntNMI, mpIntFlagsConform, 0, mpISABusID, mpNoLAPICSource, mpAllLAPICs, 1})

	copy(cfg, mpcSignature)
	le.PutUint16(cfg[4:], uint16(len(cfg))) // BASE TABLE LENGTH
	cfg[6] = mpSpecRev14
	copy(cfg[8:16], mpcOEMID)
	copy(cfg[16:28], mpcProductID)
	le.PutUint16(cfg[34:], uint16(count)) // ENTRY COUNT: entries only (Firecracker also counts the floating pointer)
	le.PutUint32(cfg[36:], uint32(LAPICAddr))
	cfg[7] = mpChecksum(cfg)
	mpf[10] = mpChecksum(mpf)
	return b, nil
}

// WriteMPTable writes the MP floating pointer at MPTableAddr and the
// configuration table right after it, describing nCPUs processors (APIC IDs
// 0..nCPUs-1, CPU 0 the bootstrap processor) and the IOAPIC (ID nCPUs, at
// IOAPICAddr). It fails with ErrCPUCount outside 1..MaxCPUs.
func WriteMPTable(mem *guestmem.Memory, nCPUs int) error {
	b, err := mpTable(nCPUs)
	if err != nil {
		return err
	}
	if err := mem.WriteAt(b, MPTableAddr); err != nil {
		return fmt.Errorf("MP table: %w", err)
	}
	return nil
}
