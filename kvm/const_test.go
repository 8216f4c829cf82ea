package kvm

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// Mirrors of the fixed headers of the variable-length arguments, for the
// size checks (buffers.go lays them out by hand).

// This mirrors kvm_cpuid2 (without its flexible array).
type cpuid2Header struct {
	Nent uint32
	_    uint32
}

// This mirrors kvm_msrs (without its flexible array).
type msrsHeader struct {
	NMSRs uint32
	_     uint32
}

// This mirrors kvm_msr_list (without its flexible array).
type msrListHeader struct {
	NMSRs uint32
}

// This mirrors the fixed head of kvm_run, up to the exit union.
type runHeader struct {
	RequestInterruptWindow     uint8
	ImmediateExit              uint8
	_                          [6]uint8
	ExitReason                 uint32
	ReadyForInterruptInjection uint8
	IFFlag                     uint8
	Flags                      uint16
	CR8                        uint64
	APICBase                   uint64
}

// This mirrors kvm_run.io.
type runIO struct {
	Direction  uint8
	Size       uint8
	Port       uint16
	Count      uint32
	DataOffset uint64
}

// This mirrors kvm_run.mmio.
type runMMIO struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
}

// This mirrors kvm_run.internal (and the head of kvm_run.system_event).
type runInternal struct {
	Suberror uint32
	NData    uint32
	Data     [16]uint64
}

// This mirrors kvm_run.fail_entry.
type runFailEntry struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
}

// Linux asm-generic/ioctl.h.
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | _KVMIO<<8 | nr
}

type ioctlCase struct {
	name      string
	got       uintptr
	dir, nr   uintptr
	size      uintptr
	kernelHex uintptr // printed by a C program including <linux/kvm.h> (6.1 headers)
}

var ioctlCases = []ioctlCase{
	{"KVM_GET_API_VERSION", _KVM_GET_API_VERSION, iocNone, 0x00, 0, 0xae00},
	{"KVM_CREATE_VM", _KVM_CREATE_VM, iocNone, 0x01, 0, 0xae01},
	{"KVM_GET_MSR_INDEX_LIST", _KVM_GET_MSR_INDEX_LIST, iocRead | iocWrite, 0x02, unsafe.Sizeof(msrListHeader{}), 0xc004ae02},
	{"KVM_CHECK_EXTENSION", _KVM_CHECK_EXTENSION, iocNone, 0x03, 0, 0xae03},
	{"KVM_GET_VCPU_MMAP_SIZE", _KVM_GET_VCPU_MMAP_SIZE, iocNone, 0x04, 0, 0xae04},
	{"KVM_GET_SUPPORTED_CPUID", _KVM_GET_SUPPORTED_CPUID, iocRead | iocWrite, 0x05, unsafe.Sizeof(cpuid2Header{}), 0xc008ae05},
	{"KVM_CREATE_VCPU", _KVM_CREATE_VCPU, iocNone, 0x41, 0, 0xae41},
	{"KVM_SET_USER_MEMORY_REGION", _KVM_SET_USER_MEMORY_REGION, iocWrite, 0x46, unsafe.Sizeof(userspaceMemoryRegion{}), 0x4020ae46},
	{"KVM_SET_TSS_ADDR", _KVM_SET_TSS_ADDR, iocNone, 0x47, 0, 0xae47},
	{"KVM_SET_IDENTITY_MAP_ADDR", _KVM_SET_IDENTITY_MAP_ADDR, iocWrite, 0x48, unsafe.Sizeof(uint64(0)), 0x4008ae48},
	{"KVM_CREATE_IRQCHIP", _KVM_CREATE_IRQCHIP, iocNone, 0x60, 0, 0xae60},
	{"KVM_IRQ_LINE", _KVM_IRQ_LINE, iocWrite, 0x61, unsafe.Sizeof(irqLevel{}), 0x4008ae61},
	{"KVM_IRQFD", _KVM_IRQFD, iocWrite, 0x76, unsafe.Sizeof(irqfd{}), 0x4020ae76},
	{"KVM_CREATE_PIT2", _KVM_CREATE_PIT2, iocWrite, 0x77, unsafe.Sizeof(pitConfig{}), 0x4040ae77},
	{"KVM_IOEVENTFD", _KVM_IOEVENTFD, iocWrite, 0x79, unsafe.Sizeof(ioeventfd{}), 0x4040ae79},
	{"KVM_SET_CLOCK", _KVM_SET_CLOCK, iocWrite, 0x7b, unsafe.Sizeof(ClockData{}), 0x4030ae7b},
	{"KVM_GET_CLOCK", _KVM_GET_CLOCK, iocRead, 0x7c, unsafe.Sizeof(ClockData{}), 0x8030ae7c},
	{"KVM_RUN", _KVM_RUN, iocNone, 0x80, 0, 0xae80},
	{"KVM_GET_REGS", _KVM_GET_REGS, iocRead, 0x81, unsafe.Sizeof(Regs{}), 0x8090ae81},
	{"KVM_SET_REGS", _KVM_SET_REGS, iocWrite, 0x82, unsafe.Sizeof(Regs{}), 0x4090ae82},
	{"KVM_GET_SREGS", _KVM_GET_SREGS, iocRead, 0x83, unsafe.Sizeof(Sregs{}), 0x8138ae83},
	{"KVM_SET_SREGS", _KVM_SET_SREGS, iocWrite, 0x84, unsafe.Sizeof(Sregs{}), 0x4138ae84},
	{"KVM_GET_MSRS", _KVM_GET_MSRS, iocRead | iocWrite, 0x88, unsafe.Sizeof(msrsHeader{}), 0xc008ae88},
	{"KVM_SET_MSRS", _KVM_SET_MSRS, iocWrite, 0x89, unsafe.Sizeof(msrsHeader{}), 0x4008ae89},
	{"KVM_GET_FPU", _KVM_GET_FPU, iocRead, 0x8c, unsafe.Sizeof(FPU{}), 0x81a0ae8c},
	{"KVM_SET_FPU", _KVM_SET_FPU, iocWrite, 0x8d, unsafe.Sizeof(FPU{}), 0x41a0ae8d},
	{"KVM_GET_LAPIC", _KVM_GET_LAPIC, iocRead, 0x8e, unsafe.Sizeof(LAPICState{}), 0x8400ae8e},
	{"KVM_SET_LAPIC", _KVM_SET_LAPIC, iocWrite, 0x8f, unsafe.Sizeof(LAPICState{}), 0x4400ae8f},
	{"KVM_SET_CPUID2", _KVM_SET_CPUID2, iocWrite, 0x90, unsafe.Sizeof(cpuid2Header{}), 0x4008ae90},
	{"KVM_GET_MP_STATE", _KVM_GET_MP_STATE, iocRead, 0x98, unsafe.Sizeof(mpState{}), 0x8004ae98},
	{"KVM_SET_MP_STATE", _KVM_SET_MP_STATE, iocWrite, 0x99, unsafe.Sizeof(mpState{}), 0x4004ae99},
	{"KVM_GET_VCPU_EVENTS", _KVM_GET_VCPU_EVENTS, iocRead, 0x9f, unsafe.Sizeof(VCPUEvents{}), 0x8040ae9f},
	{"KVM_SET_VCPU_EVENTS", _KVM_SET_VCPU_EVENTS, iocWrite, 0xa0, unsafe.Sizeof(VCPUEvents{}), 0x4040aea0},
	// Snapshot state (state.go; sizes pinned in state_test.go).
	{"KVM_GET_IRQCHIP", _KVM_GET_IRQCHIP, iocRead | iocWrite, 0x62, unsafe.Sizeof(IRQChip{}), 0xc208ae62},
	{"KVM_SET_IRQCHIP", _KVM_SET_IRQCHIP, iocRead, 0x63, unsafe.Sizeof(IRQChip{}), 0x8208ae63},
	{"KVM_GET_PIT2", _KVM_GET_PIT2, iocRead, 0x9f, unsafe.Sizeof(PITState2{}), 0x8070ae9f},
	{"KVM_SET_PIT2", _KVM_SET_PIT2, iocWrite, 0xa0, unsafe.Sizeof(PITState2{}), 0x4070aea0},
	{"KVM_GET_CPUID2", _KVM_GET_CPUID2, iocRead | iocWrite, 0x91, unsafe.Sizeof(cpuid2Header{}), 0xc008ae91},
	{"KVM_GET_DEBUGREGS", _KVM_GET_DEBUGREGS, iocRead, 0xa1, unsafe.Sizeof(DebugRegs{}), 0x8080aea1},
	{"KVM_SET_DEBUGREGS", _KVM_SET_DEBUGREGS, iocWrite, 0xa2, unsafe.Sizeof(DebugRegs{}), 0x4080aea2},
	{"KVM_SET_TSC_KHZ", _KVM_SET_TSC_KHZ, iocNone, 0xa2, 0, 0xaea2},
	{"KVM_GET_TSC_KHZ", _KVM_GET_TSC_KHZ, iocNone, 0xa3, 0, 0xaea3},
	{"KVM_GET_XSAVE", _KVM_GET_XSAVE, iocRead, 0xa4, unsafe.Sizeof(xsaveMirror{}), 0x9000aea4},
	{"KVM_SET_XSAVE", _KVM_SET_XSAVE, iocWrite, 0xa5, unsafe.Sizeof(xsaveMirror{}), 0x5000aea5},
	{"KVM_GET_XCRS", _KVM_GET_XCRS, iocRead, 0xa6, unsafe.Sizeof(XCRs{}), 0x8188aea6},
	{"KVM_SET_XCRS", _KVM_SET_XCRS, iocWrite, 0xa7, unsafe.Sizeof(XCRs{}), 0x4188aea7},
	{"KVM_KVMCLOCK_CTRL", _KVM_KVMCLOCK_CTRL, iocNone, 0xad, 0, 0xaead},
	{"KVM_GET_XSAVE2", _KVM_GET_XSAVE2, iocRead, 0xcf, unsafe.Sizeof(xsaveMirror{}), 0x9000aecf},
}

func TestIoctlNumbers(t *testing.T) {
	for _, c := range ioctlCases {
		if want := ioc(c.dir, c.nr, c.size); c.got != want {
			t.Errorf("%s = %#x, _IOC recomputes %#x", c.name, c.got, want)
		}
		if c.got != c.kernelHex {
			t.Errorf("%s = %#x, the kernel header gives %#x", c.name, c.got, c.kernelHex)
		}
		if iocSize(c.got) != c.size {
			t.Errorf("iocSize(%s) = %d, want %d", c.name, iocSize(c.got), c.size)
		}
	}
}

func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr // sizeof in the kernel's x86-64 headers
	}{
		{"kvm_regs", unsafe.Sizeof(Regs{}), 144},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), 312},
		{"kvm_fpu", unsafe.Sizeof(FPU{}), 416},
		{"kvm_segment", unsafe.Sizeof(Segment{}), 24},
		{"kvm_dtable", unsafe.Sizeof(DTable{}), 16},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry{}), 40},
		{"kvm_cpuid2", unsafe.Sizeof(cpuid2Header{}), 8},
		{"kvm_msr_entry", unsafe.Sizeof(MSREntry{}), 16},
		{"kvm_msrs", unsafe.Sizeof(msrsHeader{}), 8},
		{"kvm_msr_list", unsafe.Sizeof(msrListHeader{}), 4},
		{"kvm_lapic_state", unsafe.Sizeof(LAPICState{}), 1024},
		{"kvm_vcpu_events", unsafe.Sizeof(VCPUEvents{}), 64},
		{"kvm_userspace_memory_region", unsafe.Sizeof(userspaceMemoryRegion{}), 32},
		{"kvm_irqfd", unsafe.Sizeof(irqfd{}), 32},
		{"kvm_ioeventfd", unsafe.Sizeof(ioeventfd{}), 64},
		{"kvm_pit_config", unsafe.Sizeof(pitConfig{}), 64},
		{"kvm_irq_level", unsafe.Sizeof(irqLevel{}), 8},
		{"kvm_clock_data", unsafe.Sizeof(ClockData{}), 48},
		{"kvm_mp_state", unsafe.Sizeof(mpState{}), 4},
		{"kvm_run head", unsafe.Sizeof(runHeader{}), _KVM_RUN_union},
		// The hand-layout constants of buffers.go.
		{"sizeofCPUID2Header", sizeofCPUID2Header, unsafe.Sizeof(cpuid2Header{})},
		{"sizeofCPUIDEntry", sizeofCPUIDEntry, unsafe.Sizeof(CPUIDEntry{})},
		{"sizeofMSRsHeader", sizeofMSRsHeader, unsafe.Sizeof(msrsHeader{})},
		{"sizeofMSREntry", sizeofMSREntry, unsafe.Sizeof(MSREntry{})},
		{"sizeofMSRListHeader", sizeofMSRListHeader, unsafe.Sizeof(msrListHeader{})},
	} {
		if c.got != c.want {
			t.Errorf("sizeof %s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestStructOffsets(t *testing.T) {
	var (
		regs  Regs
		seg   Segment
		dt    DTable
		sregs Sregs
		fpu   FPU
		cpuid CPUIDEntry
		msr   MSREntry
		ev    VCPUEvents
		clock ClockData
		mr    userspaceMemoryRegion
		ifd   irqfd
		ioe   ioeventfd
		head  runHeader
		io    runIO
		mmio  runMMIO
		ie    runInternal
		fe    runFailEntry
	)
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr // offsetof in the kernel headers
	}{
		{"kvm_regs.rip", unsafe.Offsetof(regs.RIP), 128},
		{"kvm_regs.rflags", unsafe.Offsetof(regs.RFLAGS), 136},
		{"kvm_segment.limit", unsafe.Offsetof(seg.Limit), 8},
		{"kvm_segment.selector", unsafe.Offsetof(seg.Selector), 12},
		{"kvm_segment.type", unsafe.Offsetof(seg.Type), 14},
		{"kvm_segment.avl", unsafe.Offsetof(seg.AVL), 21},
		{"kvm_segment.unusable", unsafe.Offsetof(seg.Unusable), 22},
		{"kvm_dtable.limit", unsafe.Offsetof(dt.Limit), 8},
		{"kvm_sregs.ldt", unsafe.Offsetof(sregs.LDT), 168},
		{"kvm_sregs.gdt", unsafe.Offsetof(sregs.GDT), 192},
		{"kvm_sregs.cr0", unsafe.Offsetof(sregs.CR0), 224},
		{"kvm_sregs.efer", unsafe.Offsetof(sregs.EFER), 264},
		{"kvm_sregs.apic_base", unsafe.Offsetof(sregs.APICBase), 272},
		{"kvm_sregs.interrupt_bitmap", unsafe.Offsetof(sregs.InterruptBitmap), 280},
		{"kvm_fpu.fcw", unsafe.Offsetof(fpu.FCW), 128},
		{"kvm_fpu.last_opcode", unsafe.Offsetof(fpu.LastOpcode), 134},
		{"kvm_fpu.last_ip", unsafe.Offsetof(fpu.LastIP), 136},
		{"kvm_fpu.xmm", unsafe.Offsetof(fpu.XMM), 152},
		{"kvm_fpu.mxcsr", unsafe.Offsetof(fpu.MXCSR), 408},
		{"kvm_cpuid_entry2.edx", unsafe.Offsetof(cpuid.EDX), 24},
		{"kvm_msr_entry.data", unsafe.Offsetof(msr.Data), 8},
		{"kvm_vcpu_events.exception.error_code", unsafe.Offsetof(ev.Exception) + unsafe.Offsetof(ev.Exception.ErrorCode), 4},
		{"kvm_vcpu_events.interrupt", unsafe.Offsetof(ev.Interrupt), 8},
		{"kvm_vcpu_events.nmi", unsafe.Offsetof(ev.NMI), 12},
		{"kvm_vcpu_events.sipi_vector", unsafe.Offsetof(ev.SIPIVector), 16},
		{"kvm_vcpu_events.flags", unsafe.Offsetof(ev.Flags), 20},
		{"kvm_vcpu_events.smi", unsafe.Offsetof(ev.SMI), 24},
		{"kvm_vcpu_events.triple_fault", unsafe.Offsetof(ev.TripleFaultPending), 28},
		{"kvm_vcpu_events.exception_has_payload", unsafe.Offsetof(ev.ExceptionHasPayload), 55},
		{"kvm_vcpu_events.exception_payload", unsafe.Offsetof(ev.ExceptionPayload), 56},
		{"kvm_clock_data.realtime", unsafe.Offsetof(clock.Realtime), 16},
		{"kvm_clock_data.host_tsc", unsafe.Offsetof(clock.HostTSC), 24},
		{"kvm_userspace_memory_region.userspace_addr", unsafe.Offsetof(mr.UserspaceAddr), 24},
		{"kvm_irqfd.flags", unsafe.Offsetof(ifd.Flags), 8},
		{"kvm_ioeventfd.addr", unsafe.Offsetof(ioe.Addr), 8},
		{"kvm_ioeventfd.len", unsafe.Offsetof(ioe.Len), 16},
		{"kvm_ioeventfd.fd", unsafe.Offsetof(ioe.FD), 20},
		{"kvm_ioeventfd.flags", unsafe.Offsetof(ioe.Flags), 24},

		// kvm_run: the constants run.go reads at, against the mirrors and
		// against the kernel's offsetof.
		{"kvm_run.immediate_exit", _KVM_RUN_immediate_exit, unsafe.Offsetof(head.ImmediateExit)},
		{"kvm_run.immediate_exit (kernel)", _KVM_RUN_immediate_exit, 1},
		{"kvm_run.exit_reason", _KVM_RUN_exit_reason, unsafe.Offsetof(head.ExitReason)},
		{"kvm_run.exit_reason (kernel)", _KVM_RUN_exit_reason, 8},
		{"kvm_run.io (kernel)", _KVM_RUN_union, 32},
		{"kvm_run.io.direction", _KVM_RUN_io_direction, _KVM_RUN_union + unsafe.Offsetof(io.Direction)},
		{"kvm_run.io.size", _KVM_RUN_io_size, _KVM_RUN_union + unsafe.Offsetof(io.Size)},
		{"kvm_run.io.port", _KVM_RUN_io_port, _KVM_RUN_union + unsafe.Offsetof(io.Port)},
		{"kvm_run.io.count", _KVM_RUN_io_count, _KVM_RUN_union + unsafe.Offsetof(io.Count)},
		{"kvm_run.io.data_offset", _KVM_RUN_io_data_offset, _KVM_RUN_union + unsafe.Offsetof(io.DataOffset)},
		{"kvm_run.io.data_offset (kernel)", _KVM_RUN_io_data_offset, 40},
		{"kvm_run.mmio.phys_addr", _KVM_RUN_mmio_phys_addr, _KVM_RUN_union + unsafe.Offsetof(mmio.PhysAddr)},
		{"kvm_run.mmio.data", _KVM_RUN_mmio_data, _KVM_RUN_union + unsafe.Offsetof(mmio.Data)},
		{"kvm_run.mmio.len", _KVM_RUN_mmio_len, _KVM_RUN_union + unsafe.Offsetof(mmio.Len)},
		{"kvm_run.mmio.len (kernel)", _KVM_RUN_mmio_len, 48},
		{"kvm_run.mmio.is_write", _KVM_RUN_mmio_is_write, _KVM_RUN_union + unsafe.Offsetof(mmio.IsWrite)},
		{"kvm_run.mmio.is_write (kernel)", _KVM_RUN_mmio_is_write, 52},
		{"kvm_run.internal.suberror", _KVM_RUN_internal_suberror, _KVM_RUN_union + unsafe.Offsetof(ie.Suberror)},
		{"kvm_run.internal.ndata", _KVM_RUN_internal_ndata, _KVM_RUN_union + unsafe.Offsetof(ie.NData)},
		{"kvm_run.internal.data", _KVM_RUN_internal_data, _KVM_RUN_union + unsafe.Offsetof(ie.Data)},
		{"kvm_run.internal.data (kernel)", _KVM_RUN_internal_data, 40},
		{"kvm_run.system_event.type", _KVM_RUN_system_event_type, _KVM_RUN_union + unsafe.Offsetof(ie.Suberror)},
		{"kvm_run.system_event.ndata", _KVM_RUN_system_event_ndata, _KVM_RUN_union + unsafe.Offsetof(ie.NData)},
		{"kvm_run.system_event.data (kernel)", _KVM_RUN_system_event_data, 40},
		{"kvm_run.fail_entry.hardware_entry_failure_reason", _KVM_RUN_fail_entry_reason, _KVM_RUN_union + unsafe.Offsetof(fe.HardwareEntryFailureReason)},
		{"kvm_run.fail_entry.cpu", _KVM_RUN_fail_entry_cpu, _KVM_RUN_union + unsafe.Offsetof(fe.CPU)},
		{"kvm_run.fail_entry.cpu (kernel)", _KVM_RUN_fail_entry_cpu, 40},
		{"sizeof kvm_run.internal", unsafe.Sizeof(ie), 8 + 8*_KVM_RUN_data_max},
		{"sizeof kvm_run.mmio.data", unsafe.Sizeof(mmio.Data), _KVM_RUN_mmio_max},
	} {
		if c.got != c.want {
			t.Errorf("offset of %s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// The whole internal/system_event payload lies inside the 256-byte union.
	if end := unsafe.Sizeof(ie); end > _KVM_RUN_union_size {
		t.Errorf("kvm_run.internal is %d bytes, the union %d", end, _KVM_RUN_union_size)
	}
}

// headerDefines reads "#define NAME VALUE" lines from a kernel header, or
// skips t when the header is not installed (linux-libc-dev).
func headerDefines(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no kernel header: %v (install linux-libc-dev)", err)
	}
	defer f.Close()
	defs := map[string]string{}
	re := regexp.MustCompile(`^#define\s+(KVM_\w+)\s+(.*?)\s*(/\*.*)?$`)
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := re.FindStringSubmatch(s.Text()); m != nil {
			defs[m[1]] = strings.TrimSpace(m[2])
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestAgainstInstalledHeader cross-checks capability numbers, exit reasons and
// ioctl directions/numbers against /usr/include/linux/kvm.h when present.
func TestAgainstInstalledHeader(t *testing.T) {
	defs := headerDefines(t, "/usr/include/linux/kvm.h")
	num := func(name string) (uint64, bool) {
		v, ok := defs[name]
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseUint(v, 0, 64)
		return n, err == nil
	}
	for c, name := range capNames {
		if n, ok := num(name); !ok || n != uint64(c) {
			t.Errorf("%s: header %q, package %d", name, defs[name], c)
		}
	}
	for reason, name := range exitNames {
		if n, ok := num(name); !ok || n != uint64(reason) {
			t.Errorf("%s: header %q, package %d", name, defs[name], reason)
		}
	}
	re := regexp.MustCompile(`^_IO(|R|W|WR)\(KVMIO,\s*(0x[0-9a-fA-F]+)`)
	for _, c := range ioctlCases {
		m := re.FindStringSubmatch(defs[c.name])
		if m == nil {
			t.Errorf("%s: header %q not understood", c.name, defs[c.name])
			continue
		}
		dir := map[string]uintptr{"": iocNone, "R": iocRead, "W": iocWrite, "WR": iocRead | iocWrite}[m[1]]
		nr, _ := strconv.ParseUint(m[2], 0, 8)
		if dir != c.dir || uintptr(nr) != c.nr {
			t.Errorf("%s: header %q, test table dir %d nr %#x", c.name, defs[c.name], c.dir, c.nr)
		}
	}
	if n, _ := num("KVM_API_VERSION"); n != _KVM_API_VERSION {
		t.Errorf("KVM_API_VERSION: header %d, package %d", n, _KVM_API_VERSION)
	}
	for name, want := range map[string]uint64{
		"KVM_EXIT_IO_IN": ExitIOIn, "KVM_EXIT_IO_OUT": ExitIOOut,
		"KVM_INTERNAL_ERROR_EMULATION": InternalErrorEmulation, "KVM_INTERNAL_ERROR_SIMUL_EX": InternalErrorSimulEx,
		"KVM_INTERNAL_ERROR_DELIVERY_EV": InternalErrorDeliveryEv, "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON": InternalErrorUnexpectedExitReason,
		"KVM_SYSTEM_EVENT_SHUTDOWN": SystemEventShutdown, "KVM_SYSTEM_EVENT_RESET": SystemEventReset,
		"KVM_SYSTEM_EVENT_CRASH": SystemEventCrash, "KVM_MP_STATE_RUNNABLE": MPStateRunnable,
		"KVM_MP_STATE_HALTED": MPStateHalted, "KVM_IRQFD_FLAG_DEASSIGN": _KVM_IRQFD_FLAG_DEASSIGN,
	} {
		v := defs[name]
		v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
		if strings.HasPrefix(v, "1 << ") {
			sh, _ := strconv.ParseUint(strings.TrimPrefix(v, "1 << "), 0, 8)
			v = strconv.FormatUint(1<<sh, 10)
		}
		if n, err := strconv.ParseUint(v, 0, 64); err != nil || n != want {
			t.Errorf("%s: header %q, package %d", name, defs[name], want)
		}
	}
}

func TestNames(t *testing.T) {
	for reason, want := range map[uint32]string{
		ExitIO: "KVM_EXIT_IO", ExitShutdown: "KVM_EXIT_SHUTDOWN", ExitNotify: "KVM_EXIT_NOTIFY", 1000: "KVM_EXIT(1000)",
	} {
		if got := ExitName(reason); got != want {
			t.Errorf("ExitName(%d) = %q, want %q", reason, got, want)
		}
	}
	for i, n := range exitNames {
		if n == "" {
			t.Errorf("exit reason %d has no name", i)
		}
	}
	if got := CapIRQChip.String(); got != "KVM_CAP_IRQCHIP" {
		t.Errorf("CapIRQChip.String() = %q", got)
	}
	if got := Cap(9999).String(); got != "KVM_CAP(9999)" {
		t.Errorf("Cap(9999).String() = %q", got)
	}
}
