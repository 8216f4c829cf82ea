package boot

import (
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// The guest-physical memory map (DESIGN.md §3). Every address the boot code
// or the VMM places something at is here, derived from its neighbours where
// one follows another, so that moving one structure moves the ones after it.
// layout_test.go checks that no two regions overlap and that each lies where
// the map says (low structures below EBDAAddr, devices inside the MMIO gap).

// Sizes shared by the map.
const (
	fourGiB = 1 << 32
	// PageSize is the x86 base page size.
	PageSize = 0x1000
	// LargePageSize is the size of one 2 MiB page-directory mapping.
	LargePageSize = 2 << 20
)

// Low memory (below 1 MiB). The real-mode IVT and BIOS data area at
// [0, 0x500) stay zero: Linux reads the BDA's EBDA pointer (0x40e) and base
// memory size (0x413) there, finds 0 and falls back to reserving [0x9f000,
// 1 MiB) itself (reserve_bios_regions), which covers the MP table.
const (
	// GDTAddr is the boot GDT: null, null, code64 at __BOOT_CS (0x10),
	// data at __BOOT_DS (0x18), and a 16-byte 64-bit TSS descriptor at
	// 0x20 (see gdt.go).
	GDTAddr guestmem.GPA = 0x500
	// GDTSize is the size of the boot GDT in bytes.
	GDTSize = gdtEntryCount * gdtEntrySize
	// IDTAddr is the empty boot IDT, right after the GDT. An exception
	// before the kernel loads its own IDT becomes a triple fault, which the
	// VMM reports as a stop reason, rather than a jump through garbage.
	IDTAddr = GDTAddr + GDTSize
	// IDTSize is one 16-byte not-present gate.
	IDTSize = 16
	// TSSAddr is the 104-byte task-state segment that TR names at entry.
	// VM entry requires TR to describe a busy 64-bit TSS; the kernel loads
	// its own per-CPU TSS before it could ever need this one.
	TSSAddr = IDTAddr + IDTSize
	// TSSSize is the architectural minimum size of a 64-bit TSS (Intel SDM
	// vol. 3A §8.7, "Task Management in 64-bit Mode").
	TSSSize = 0x68

	// ZeroPageAddr is boot_params (the "zero page"); RSI points here at entry.
	ZeroPageAddr guestmem.GPA = 0x7000
	// ZeroPageSize is sizeof(struct boot_params).
	ZeroPageSize = PageSize

	// BootStackBase is the lowest address of the boot stack page, right
	// after the zero page.
	BootStackBase = ZeroPageAddr + ZeroPageSize
	// BootStackSize is the boot stack's size.
	BootStackSize = PageSize
	// BootStackPointer is the initial RSP and RBP: the top of the boot
	// stack page less 16 bytes, keeping the ABI's 16-byte alignment (0x8ff0).
	BootStackPointer = BootStackBase + BootStackSize - 0x10

	// PML4Addr is the page-map level-4 table, after the boot stack (0x9000).
	PML4Addr = BootStackBase + BootStackSize
	// PDPTAddr is the page-directory-pointer table (0xa000).
	PDPTAddr = PML4Addr + PageSize
	// PDAddr is the first of PDCount page directories (0xb000-0xefff).
	PDAddr = PDPTAddr + PageSize
	// IdentityMapSize is how much of the physical address space the boot
	// page tables identity-map: the first 4 GiB, so the kernel, the zero
	// page, the command line, the initrd and the MMIO devices are all
	// reachable at entry.
	IdentityMapSize = fourGiB
	// PDCount is the number of page directories: each maps 1 GiB with 512
	// 2 MiB pages.
	PDCount = IdentityMapSize / (pageTableEntries * LargePageSize)
	// PageTablesEnd is the first address past the last page directory.
	PageTablesEnd = PDAddr + PDCount*PageSize

	// CmdlineAddr is the NUL-terminated kernel command line.
	CmdlineAddr guestmem.GPA = 0x20000
	// CmdlineMax is the command line buffer, NUL included. It is x86
	// Linux's COMMAND_LINE_SIZE (arch/x86/include/asm/setup.h): the kernel
	// copies at most that many bytes into boot_command_line and silently
	// drops the rest, so a longer line is refused here instead.
	CmdlineMax = 2048

	// EBDAAddr is the start of the extended BIOS data area on a PC with
	// 639 KiB of base memory. Everything from here to HighMemStart is
	// reported reserved in the e820 map.
	EBDAAddr guestmem.GPA = 0x9fc00
	// MPTableAddr is the MP floating pointer, followed by the MP
	// configuration table. Linux scans [0x9fc00, 0xa0000) for the floating
	// pointer (the last KiB of base memory, MP spec v1.4 §4); the
	// configuration table may run past 0xa0000 but stays below
	// HighMemStart (checked for MaxCPUs by layout_test.go).
	MPTableAddr = EBDAAddr

	// HighMemStart is the first byte above the legacy first megabyte. Kernel
	// segments must be loaded at or above it.
	HighMemStart guestmem.GPA = 0x100000
)

// The MMIO gap: the last GiB below 4 GiB holds devices, never RAM (as
// Firecracker's MMIO32 area). RAM beyond MMIOGapStart continues at
// MMIOGapEnd.
const (
	// MMIOGapEnd is the first address past 32 bits.
	MMIOGapEnd guestmem.GPA = fourGiB
	// MMIOGapSize is the size of the gap.
	MMIOGapSize = 1 << 30
	// MMIOGapStart is 3 GiB: where low RAM ends at most.
	MMIOGapStart = MMIOGapEnd - MMIOGapSize

	// BootTimerAddr is the first page of the gap: a guest write of the byte
	// 123 at offset 0 marks "boot complete" (Firecracker-compatible).
	BootTimerAddr = MMIOGapStart
	// BootTimerSize is the boot timer's MMIO window.
	BootTimerSize = PageSize

	// VirtioMMIOBase is the first virtio-mmio device window, right after
	// the boot timer; device n is at VirtioMMIOBase + n*VirtioMMIOStride.
	VirtioMMIOBase = BootTimerAddr + BootTimerSize
	// VirtioMMIOStride is the size of one virtio-mmio device window (4K on
	// the kernel command line).
	VirtioMMIOStride = PageSize
	// VirtioFirstIRQ is the IOAPIC pin of virtio-mmio device 0; device n
	// uses VirtioFirstIRQ+n. Pins below are legacy ISA (serial is 4).
	VirtioFirstIRQ = 5
	// IOAPICPins is the number of inputs of KVM's in-kernel IOAPIC.
	IOAPICPins = 24
	// VirtioMMIOMaxDevices is how many virtio-mmio devices get an IOAPIC
	// pin of their own (5..23).
	VirtioMMIOMaxDevices = IOAPICPins - VirtioFirstIRQ

	// IOAPICAddr is the IOAPIC's register window (its architectural
	// default, IO_APIC_DEFAULT_PHYS_BASE in Linux).
	IOAPICAddr guestmem.GPA = 0xfec00000
	// IOAPICSize is the IOAPIC's MMIO window.
	IOAPICSize = PageSize
	// LAPICAddr is the local APIC's register window (APIC_DEFAULT_PHYS_BASE).
	LAPICAddr guestmem.GPA = 0xfee00000
	// LAPICSize is the local APIC's MMIO window.
	LAPICSize = PageSize

	// KVMIdentityMapAddr is the page KVM on Intel uses for its EPT identity
	// map (VMX_EPT_IDENTITY_PAGETABLE_ADDR, the default of
	// KVM_SET_IDENTITY_MAP_ADDR), one page below KVMTSSAddr.
	KVMIdentityMapAddr = KVMTSSAddr - PageSize
	// KVMTSSAddr is the three pages KVM on Intel needs for its real-mode
	// TSS (KVM_SET_TSS_ADDR), as Firecracker places them.
	KVMTSSAddr guestmem.GPA = 0xfffbd000
	// KVMTSSSize is the size KVM_SET_TSS_ADDR reserves.
	KVMTSSSize = 3 * PageSize
)

// VirtioMMIOSlot returns the MMIO window base and IOAPIC pin of virtio-mmio
// device n (0-based).
func VirtioMMIOSlot(n int) (guestmem.GPA, uint32, error) {
	if n < 0 || n >= VirtioMMIOMaxDevices {
		return 0, 0, fmt.Errorf("virtio-mmio device %d: only devices 0..%d have an IRQ", n, VirtioMMIOMaxDevices-1)
	}
	return VirtioMMIOBase + guestmem.GPA(n)*VirtioMMIOStride, uint32(VirtioFirstIRQ + n), nil
}

// VirtioMMIOCmdline returns the kernel command-line parameter that announces
// virtio-mmio device n, e.g. "virtio_mmio.device=4K@0xc0001000:5".
func VirtioMMIOCmdline(n int) (string, error) {
	addr, irq, err := VirtioMMIOSlot(n)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("virtio_mmio.device=%dK@%#x:%d", VirtioMMIOStride>>10, uint64(addr), irq), nil
}
