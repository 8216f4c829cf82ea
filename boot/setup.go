package boot

import (
	"fmt"
	"io"

	"github.com/hullvm/hull/guestmem"
)

// Config is what to boot.
type Config struct {
	Kernel     io.ReaderAt // ELF64 vmlinux (or a freestanding ELF64 test guest)
	Initrd     io.ReaderAt // nil: none
	InitrdSize int64       // bytes of Initrd to load; 0 means no initrd
	Cmdline    string
	CPUs       int // 1..MaxCPUs
}

// Result says where things went and how the boot vCPU starts.
type Result struct {
	Entry       guestmem.GPA // ELF e_entry, = CPU.RIP: physical (vmlinux: startup_64's physical address)
	KernelStart guestmem.GPA // lowest PT_LOAD p_paddr
	KernelEnd   guestmem.GPA // highest PT_LOAD p_paddr+p_memsz
	InitrdAddr  guestmem.GPA // 0 without an initrd
	InitrdSize  uint64
	E820        []E820Entry // the memory map given to the kernel
	CPU         CPUState    // the boot vCPU's entry state
}

// CPUState is the boot vCPU's register state at the kernel entry point. The
// VMM copies it into kvm_regs/kvm_sregs; segments use kvm_segment's
// conventions.
type CPUState struct {
	RIP, RSP, RBP, RSI, RFLAGS uint64
	CR0, CR3, CR4, EFER        uint64
	GDT, IDT                   Table
	CS, DS, ES, FS, GS, SS, TR Segment
}

// Control-register and EFER bits (Intel SDM vol. 3A §2.5, §2.2.1).
const (
	cr0PE      = 1 << 0  // protection enable
	cr0ET      = 1 << 4  // extension type: hardwired to 1 since the i486
	cr0PG      = 1 << 31 // paging
	cr4PAE     = 1 << 5  // physical address extension, required for long mode
	eferLME    = 1 << 8  // long mode enable
	eferLMA    = 1 << 10 // long mode active
	rflagsRsvd = 1 << 1  // RFLAGS bit 1 always reads 1; IF stays 0
)

// Setup loads the kernel described by cfg into mem and writes every
// structure the Linux 64-bit boot protocol needs: the ELF segments, the
// initrd at the top of low RAM, the command line, the zero page with its
// e820 map, the GDT/IDT/TSS, identity-mapping page tables for the first
// 4 GiB and the MP table. mem must follow the memory map (normally made from
// MemoryRanges). It returns where everything went and the boot vCPU's entry
// state: 64-bit mode, paging on, RIP = the ELF entry, RSI = ZeroPageAddr.
//
// Setup checks cfg, the memory layout, the kernel's headers and the initrd's
// placement before it writes anything, so those errors leave mem untouched;
// only a read error of the kernel or initrd file can leave it partly
// written, and the caller discards it with the VM.
func Setup(mem *guestmem.Memory, cfg Config) (*Result, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	e820, err := E820(mem.Regions())
	if err != nil {
		return nil, err
	}
	img, err := parseELF(mem, cfg.Kernel)
	if err != nil {
		return nil, err
	}
	res := &Result{Entry: img.entry, KernelStart: img.start, KernelEnd: img.end, E820: e820}
	if cfg.InitrdSize > 0 {
		res.InitrdSize = uint64(cfg.InitrdSize)
		top := lowRAMTop(regionRanges(mem.Regions()))
		if res.InitrdAddr, err = initrdPlacement(top, res.InitrdSize, img.end); err != nil {
			return nil, err
		}
	}
	// Everything is checked: from here on only an I/O error can fail.
	if err := img.load(mem, cfg.Kernel); err != nil {
		return nil, err
	}
	if res.InitrdSize > 0 {
		if err := loadInitrd(mem, cfg.Initrd, res.InitrdAddr, res.InitrdSize); err != nil {
			return nil, err
		}
	}
	if err := writeCmdline(mem, cfg.Cmdline); err != nil {
		return nil, err
	}
	zp := &zeroPage{cmdlineAddr: CmdlineAddr, cmdlineSize: CmdlineMax - 1,
		initrdAddr: res.InitrdAddr, initrdSize: res.InitrdSize, e820: e820}
	if err := writeZeroPage(mem, zp); err != nil {
		return nil, err
	}
	cpu := &res.CPU
	if err := writeDescriptorTables(mem, cpu); err != nil {
		return nil, err
	}
	if err := writePageTables(mem, cpu); err != nil {
		return nil, err
	}
	if err := WriteMPTable(mem, cfg.CPUs); err != nil {
		return nil, err
	}
	cpu.RIP = uint64(img.entry)
	cpu.RSP = uint64(BootStackPointer)
	cpu.RBP = uint64(BootStackPointer)
	cpu.RSI = uint64(ZeroPageAddr)
	cpu.RFLAGS = rflagsRsvd
	// ET is reported set by every CPU since the i486, so set it like
	// hardware does; the kernel loads its own CR0 (CR0_STATE) in
	// startup_64 anyway.
	cpu.CR0 = cr0PE | cr0ET | cr0PG
	cpu.CR4 = cr4PAE
	cpu.EFER = eferLME | eferLMA
	return res, nil
}

// checkConfig rejects unusable configurations before anything is written.
func checkConfig(cfg *Config) error {
	switch {
	case cfg.Kernel == nil:
		return fmt.Errorf("%w: no kernel", ErrConfig)
	case cfg.CPUs < 1 || cfg.CPUs > MaxCPUs:
		return fmt.Errorf("%w: %d vCPUs, want 1..%d", ErrCPUCount, cfg.CPUs, MaxCPUs)
	case cfg.InitrdSize < 0:
		return fmt.Errorf("%w: negative initrd size %d", ErrConfig, cfg.InitrdSize)
	case cfg.InitrdSize > 0 && cfg.Initrd == nil:
		return fmt.Errorf("%w: initrd size %d without an initrd", ErrConfig, cfg.InitrdSize)
	}
	return checkCmdline(cfg.Cmdline)
}

// lowRAMTop returns the end of low RAM: the end of the range holding
// HighMemStart, capped at MMIOGapStart (0 when there is none).
func lowRAMTop(ranges []guestmem.Range) uint64 {
	for _, r := range ranges {
		if r.Base <= HighMemStart && HighMemStart < r.End() {
			return min(uint64(r.End()), uint64(MMIOGapStart))
		}
	}
	return 0
}

// initrdPlacement returns the page-aligned address of an initrd of size
// bytes as high as it fits below top, and above kernelEnd.
func initrdPlacement(top, size uint64, kernelEnd guestmem.GPA) (guestmem.GPA, error) {
	floor := alignUp(uint64(kernelEnd), PageSize) // the first page past the kernel
	var free uint64
	if floor >= uint64(kernelEnd) && top > floor {
		free = top - floor
	}
	if size > free {
		return 0, fmt.Errorf("%w: %d bytes, but only %d bytes of low RAM are free between the kernel end %#x and %#x",
			ErrInitrdTooLarge, size, free, uint64(kernelEnd), top)
	}
	// top-size >= floor and floor is page aligned, so aligning down stays above it.
	return guestmem.GPA(alignDown(top-size, PageSize)), nil
}

// loadInitrd reads the initrd straight into guest memory at addr.
func loadInitrd(mem *guestmem.Memory, r io.ReaderAt, addr guestmem.GPA, size uint64) error {
	dst, err := mem.Slice(addr, size)
	if err != nil { // initrdPlacement keeps it in low RAM: only a bug gets here
		return fmt.Errorf("initrd: %w", err)
	}
	if err := readFull(r, dst, 0); err != nil {
		if isEOF(err) {
			return fmt.Errorf("reading initrd: shorter than the %d bytes announced: %w", size, err)
		}
		return fmt.Errorf("reading initrd: %w", err)
	}
	return nil
}

func alignUp(v, a uint64) uint64   { return (v + a - 1) &^ (a - 1) }
func alignDown(v, a uint64) uint64 { return v &^ (a - 1) }
