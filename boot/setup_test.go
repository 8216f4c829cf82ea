package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

// vmlinuxLike is an ELF laid out like an x86-64 vmlinux: text at 16 MiB
// (the entry), data after it, bss past the file data.
func vmlinuxLike() []byte {
	text := bytes.Repeat([]byte{0x90}, 0x3000)
	data := bytes.Repeat([]byte{0x5a}, 0x800)
	return buildELF(0x1000000,
		testSegment{paddr: 0x1000000, memsz: uint64(len(text)), data: text},
		testSegment{paddr: 0x1200000, memsz: 0x10000, data: data})
}

func TestSetup(t *testing.T) {
	const memSize = 64 << 20
	mem := newMem(t, memSize)
	initrd := bytes.Repeat([]byte("initramfs!"), 100_001) // not a page multiple
	const cmdline = "console=ttyS0 panic=-1 virtio_mmio.device=4K@0xc0001000:5"
	res, err := Setup(mem, Config{
		Kernel:     bytes.NewReader(vmlinuxLike()),
		Initrd:     bytes.NewReader(initrd),
		InitrdSize: int64(len(initrd)),
		Cmdline:    cmdline,
		CPUs:       4,
	})
	if err != nil {
		t.Fatal(err)
	}

	// Result.
	if res.Entry != 0x1000000 || res.KernelStart != 0x1000000 || res.KernelEnd != 0x1210000 {
		t.Errorf("entry %#x kernel [%#x, %#x)", uint64(res.Entry), uint64(res.KernelStart), uint64(res.KernelEnd))
	}
	wantInitrd := (memSize - uint64(len(initrd))) &^ (PageSize - 1)
	if uint64(res.InitrdAddr) != wantInitrd || res.InitrdSize != uint64(len(initrd)) {
		t.Errorf("initrd at %#x size %d, want %#x", uint64(res.InitrdAddr), res.InitrdSize, wantInitrd)
	}
	if !bytes.Equal(readBytes(t, mem, res.InitrdAddr, len(initrd)), initrd) {
		t.Error("initrd bytes differ")
	}

	// CPU state.
	cpu := res.CPU
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"RIP", cpu.RIP, 0x1000000},
		{"RSP", cpu.RSP, 0x8ff0},
		{"RBP", cpu.RBP, 0x8ff0},
		{"RSI", cpu.RSI, 0x7000},
		{"RFLAGS", cpu.RFLAGS, 0x2},
		{"CR0", cpu.CR0, 0x80000011}, // PG | ET | PE
		{"CR3", cpu.CR3, 0x9000},
		{"CR4", cpu.CR4, 0x20},    // PAE
		{"EFER", cpu.EFER, 0x500}, // LMA | LME
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if walk(t, mem, cpu.CR3, cpu.RIP) != cpu.RIP || walk(t, mem, cpu.CR3, cpu.RSI) != cpu.RSI {
		t.Error("entry or zero page not identity-mapped")
	}

	// Zero page, followed through its pointers.
	zp := readBytes(t, mem, guestmem.GPA(cpu.RSI), ZeroPageSize)
	le := binary.LittleEndian
	if le.Uint16(zp[0x1fe:]) != 0xaa55 || string(zp[0x202:0x206]) != "HdrS" || zp[0x210] == 0 {
		t.Error("setup header magic or type_of_loader missing")
	}
	cmdPtr := guestmem.GPA(le.Uint32(zp[0x228:]))
	if got := readBytes(t, mem, cmdPtr, len(cmdline)+1); string(got) != cmdline+"\x00" {
		t.Errorf("command line at %#x = %q", uint64(cmdPtr), got)
	}
	if le.Uint32(zp[0x238:]) != CmdlineMax-1 {
		t.Errorf("cmdline_size %d", le.Uint32(zp[0x238:]))
	}
	if guestmem.GPA(le.Uint32(zp[0x218:])) != res.InitrdAddr || le.Uint32(zp[0x21c:]) != uint32(len(initrd)) {
		t.Errorf("ramdisk %#x+%d", le.Uint32(zp[0x218:]), le.Uint32(zp[0x21c:]))
	}
	n := int(zp[0x1e8])
	var e820 []E820Entry
	for i := range n {
		e := zp[0x2d0+20*i:]
		e820 = append(e820, E820Entry{le.Uint64(e), le.Uint64(e[8:]), le.Uint32(e[16:])})
	}
	want := []E820Entry{{0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, memSize - 0x100000, 1}}
	if fmt.Sprint(e820) != fmt.Sprint(want) || fmt.Sprint(res.E820) != fmt.Sprint(want) {
		t.Errorf("e820 %v (result %v), want %v", e820, res.E820, want)
	}
	// Kernel and initrd lie in e820 RAM, the boot structures outside the
	// kernel's and initrd's bytes.
	for _, r := range []region{{"kernel", uint64(res.KernelStart), uint64(res.KernelEnd)},
		{"initrd", uint64(res.InitrdAddr), uint64(res.InitrdAddr) + res.InitrdSize}} {
		if !(r.start >= 0x100000 && r.end <= memSize) {
			t.Errorf("%s [%#x, %#x) not in e820 RAM", r.name, r.start, r.end)
		}
	}
	if uint64(res.InitrdAddr) < uint64(res.KernelEnd) {
		t.Error("initrd overlaps the kernel")
	}

	// GDT and MP table.
	gdt := readBytes(t, mem, guestmem.GPA(cpu.GDT.Base), int(cpu.GDT.Limit)+1)
	if d := decodeDescriptor(le.Uint64(gdt[cpu.CS.Selector:]), 0, cpu.CS.Selector); d != cpu.CS {
		t.Errorf("CS descriptor %+v, CPUState %+v", d, cpu.CS)
	}
	if d := decodeDescriptor(le.Uint64(gdt[cpu.SS.Selector:]), 0, cpu.SS.Selector); d != cpu.SS {
		t.Errorf("SS descriptor %+v, CPUState %+v", d, cpu.SS)
	}
	if p := parseMP(t, readBytes(t, mem, MPTableAddr, mpTableSize(4))); len(p.cpus) != 4 {
		t.Errorf("MP table lists %d CPUs", len(p.cpus))
	}
}

func TestSetupNoInitrd(t *testing.T) {
	mem := newLowMem(t)
	res, err := Setup(mem, Config{Kernel: bytes.NewReader(tinyKernel()), Initrd: bytes.NewReader(nil), CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.InitrdAddr != 0 || res.InitrdSize != 0 || res.Entry != HighMemStart {
		t.Errorf("result %+v", res)
	}
	zp := readBytes(t, mem, ZeroPageAddr, ZeroPageSize)
	if binary.LittleEndian.Uint64(zp[0x218:]) != 0 {
		t.Error("ramdisk fields set without an initrd")
	}
	if b := readBytes(t, mem, CmdlineAddr, 1); b[0] != 0 {
		t.Error("empty command line not NUL")
	}
}

// TestSetupRejectsBeforeWriting: configuration and kernel errors leave
// guest memory as it was.
func TestSetupRejectsBeforeWriting(t *testing.T) {
	kernel := bytes.NewReader(tinyKernel())
	for _, c := range []struct {
		name string
		cfg  Config
		want error
		msg  string
	}{
		{"no kernel", Config{CPUs: 1}, ErrConfig, "no kernel"},
		{"0 CPUs", Config{Kernel: kernel, CPUs: 0}, ErrCPUCount, fmt.Sprintf("want 1..%d", MaxCPUs)},
		{"too many CPUs", Config{Kernel: kernel, CPUs: MaxCPUs + 1}, ErrCPUCount, "255 vCPUs"},
		{"negative initrd", Config{Kernel: kernel, CPUs: 1, Initrd: bytes.NewReader(nil), InitrdSize: -1}, ErrConfig, "negative"},
		{"initrd size without reader", Config{Kernel: kernel, CPUs: 1, InitrdSize: 10}, ErrConfig, "without an initrd"},
		{"long cmdline", Config{Kernel: kernel, CPUs: 1, Cmdline: strings.Repeat("x", CmdlineMax)}, ErrCmdlineTooLong, "limit is 2047"},
		{"NUL in cmdline", Config{Kernel: kernel, CPUs: 1, Cmdline: "a\x00b"}, ErrBadCmdline, "offset 1"},
		{"bzImage", Config{Kernel: bytes.NewReader([]byte("MZ....")), CPUs: 1}, ErrNotELF, `starts with "MZ.."`},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := newLowMem(t) // enough for tinyKernel; small keeps -race fast
			before := snapshot(mem)
			_, err := Setup(mem, c.cfg)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Setup = %v, want %v saying %q", err, c.want, c.msg)
			}
			if !equalSnapshots(before, snapshot(mem)) {
				t.Error("guest memory changed")
			}
		})
	}
}

func TestSetupMemoryLayout(t *testing.T) {
	mem := newMemRanges(t, rangeOf(HighMemStart, 32<<20))
	_, err := Setup(mem, Config{Kernel: bytes.NewReader(tinyKernel()), CPUs: 1})
	if !errors.Is(err, ErrMemoryLayout) {
		t.Fatalf("Setup without low memory = %v", err)
	}
}

func TestSetupInitrdTooLarge(t *testing.T) {
	const ram = 2 << 20
	mem := newLowMem(t)
	before := snapshot(mem)
	size := int64(ram) // cannot fit above a kernel at 1 MiB
	_, err := Setup(mem, Config{Kernel: bytes.NewReader(tinyKernel()), Initrd: bytes.NewReader(make([]byte, size)),
		InitrdSize: size, CPUs: 1})
	if !errors.Is(err, ErrInitrdTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes", size)) {
		t.Fatalf("Setup = %v", err)
	}
	if !equalSnapshots(before, snapshot(mem)) {
		t.Error("a rejected initrd changed guest memory")
	}
	// The largest initrd that fits does.
	free := int64(ram) - int64(HighMemStart) - PageSize // the kernel takes the first page
	initrd := bytes.Repeat([]byte{0x77}, int(free))
	mem = newLowMem(t)
	res, err := Setup(mem, Config{Kernel: bytes.NewReader(tinyKernel()), Initrd: bytes.NewReader(initrd),
		InitrdSize: free, CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.InitrdAddr != HighMemStart+PageSize || !bytes.Equal(readBytes(t, mem, res.InitrdAddr, len(initrd)), initrd) {
		t.Errorf("initrd at %#x", uint64(res.InitrdAddr))
	}
	if !bytes.Equal(readBytes(t, mem, HighMemStart, 64), tinyKernel()[len(tinyKernel())-64:]) {
		t.Error("kernel overwritten")
	}
}

func TestSetupInitrdReadErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		r    io.ReaderAt
		want error
	}{
		{"short", bytes.NewReader(make([]byte, 100)), io.EOF},
		{"failing", failingReader{make([]byte, 10)}, errDisk},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Setup(newLowMem(t), Config{Kernel: bytes.NewReader(tinyKernel()), Initrd: c.r, InitrdSize: 4096, CPUs: 1})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "initrd") {
				t.Fatalf("Setup = %v, want %v", err, c.want)
			}
		})
	}
}

func TestInitrdPlacement(t *testing.T) {
	for _, c := range []struct {
		name      string
		mem       uint64
		size      uint64
		kernelEnd guestmem.GPA
		want      guestmem.GPA
		err       bool
	}{
		{"64MiB", 64 << 20, 0x1800, 0x1400000, 64<<20 - 0x2000, false},
		{"exact fit", 64 << 20, 64<<20 - 0x1400000, 0x1400000, 0x1400000, false},
		{"one byte over", 64 << 20, 64<<20 - 0x1400000 + 1, 0x1400000, 0, true},
		{"unaligned kernel end", 64 << 20, 64<<20 - 0x1401000, 0x1400001, 0x1401000, false},
		{"8GiB: below the gap", 8 << 30, 1 << 20, 0x2000000, MMIOGapStart - 1<<20, false},
		{"exactly the gap", uint64(MMIOGapStart), 1, 0x2000000, MMIOGapStart - PageSize, false},
		{"kernel above top", 64 << 20, 1, 65 << 20, 0, true},
		{"kernel end overflows", 64 << 20, 1, ^guestmem.GPA(0), 0, true},
		{"huge", 64 << 20, ^uint64(0), 0x1400000, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ranges, err := MemoryRanges(c.mem)
			if err != nil {
				t.Fatal(err)
			}
			got, err := initrdPlacement(lowRAMTop(ranges), c.size, c.kernelEnd)
			if c.err {
				if !errors.Is(err, ErrInitrdTooLarge) {
					t.Fatalf("placement = %#x, %v; want ErrInitrdTooLarge", uint64(got), err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("placement = %#x, %v; want %#x", uint64(got), err, uint64(c.want))
			}
		})
	}
	if top := lowRAMTop([]guestmem.Range{{Base: 0, Size: 0x1000}}); top != 0 {
		t.Errorf("lowRAMTop without high memory = %#x", top)
	}
}

// TestSetupVmlinux loads a real guest kernel when HULL_VMLINUX names one
// (guest/build-kernel.sh prints its path): vmlinux's program headers are
// the ones this loader exists for.
func TestSetupVmlinux(t *testing.T) {
	path := os.Getenv("HULL_VMLINUX")
	if path == "" {
		t.Skip("HULL_VMLINUX not set: no real vmlinux to load (guest/build-kernel.sh prints one)")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem := newMem(t, MinMemory)
	initrd := make([]byte, 1<<20)
	res, err := Setup(mem, Config{Kernel: f, Initrd: bytes.NewReader(initrd), InitrdSize: int64(len(initrd)),
		Cmdline: "console=ttyS0", CPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	// startup_64 at CONFIG_PHYSICAL_START, the entry the boot protocol
	// documents for a 64-bit direct boot.
	if res.Entry != 0x1000000 || res.KernelStart != 0x1000000 || res.KernelEnd <= res.KernelStart {
		t.Errorf("entry %#x kernel [%#x, %#x)", uint64(res.Entry), uint64(res.KernelStart), uint64(res.KernelEnd))
	}
	if res.InitrdAddr < res.KernelEnd || uint64(res.InitrdAddr)+res.InitrdSize > MinMemory {
		t.Errorf("initrd at %#x", uint64(res.InitrdAddr))
	}
	t.Logf("vmlinux: entry %#x, kernel [%#x, %#x), initrd at %#x", uint64(res.Entry),
		uint64(res.KernelStart), uint64(res.KernelEnd), uint64(res.InitrdAddr))
}
