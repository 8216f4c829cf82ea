// Package boot prepares guest memory and the boot vCPU for a Linux x86-64
// direct boot (the kernel's 64-bit boot protocol, as Firecracker boots an
// ELF vmlinux), or for a freestanding ELF64 test guest:
//
//	ranges, err := boot.MemoryRanges(256 << 20)
//	if err != nil { ... }
//	mem, err := guestmem.NewMmap(ranges...) // register mem.Regions() with KVM
//	if err != nil { ... }
//	kernel, err := os.Open("vmlinux")
//	if err != nil { ... }
//	res, err := boot.Setup(mem, boot.Config{
//		Kernel:  kernel,
//		Cmdline: "console=ttyS0 panic=-1",
//		CPUs:    2,
//	})
//	if err != nil { ... } // errors.Is(err, boot.ErrNotELF), ...
//	// vCPU 0: res.CPU → KVM_SET_REGS/KVM_SET_SREGS.
//	// Every vCPU: boot.NormalizeCPUID(kvmSupported, id, 2) → KVM_SET_CPUID2,
//	// boot.BootMSRs() → KVM_SET_MSRS.
//
// Setup writes everything through *guestmem.Memory at the addresses in
// layout.go (DESIGN.md §3): the ELF PT_LOAD segments at their physical
// addresses, the initrd page-aligned at the top of low RAM, the command line,
// the zero page (boot_params) with its e820 map, a GDT/IDT/TSS, page tables
// identity-mapping the first 4 GiB with 2 MiB pages, and the MP table. The
// result is a plain CPUState: this package knows nothing of KVM, and every
// structure is tested by reading its bytes back.
//
// Input is untrusted: a malformed kernel, an oversized initrd or command
// line, or an unsuitable memory layout gives an error wrapping one of the
// sentinels in errors.go, never a panic. Messages are one line and name the
// thing at fault; the caller adds the file name.
//
// This package imports only guestmem and the standard library.
package boot
