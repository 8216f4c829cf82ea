package kvm

// Go mirrors of the x86-64 KVM structs. Field order, widths and padding follow
// the kernel headers exactly; const_test.go pins every size and the key
// offsets against the kernel's sizeof/offsetof.

// Regs holds the general-purpose registers.
// This mirrors kvm_regs.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment is a segment register in its unpacked, descriptor-cache form.
// This mirrors kvm_segment.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is a descriptor-table register (GDTR or IDTR).
// This mirrors kvm_dtable.
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs holds the special registers.
// This mirrors kvm_sregs.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	// InterruptBitmap has one bit per pending external interrupt vector.
	InterruptBitmap [(_KVM_NR_INTERRUPTS + 63) / 64]uint64
}

// FPU holds the x87/SSE state in FXSAVE layout.
// This mirrors kvm_fpu.
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8 // abridged tag word, FXSAVE format
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	_          uint32
}

// CPUIDEntry is one CPUID leaf (and subleaf, when Flags has
// CPUIDFlagSignificantIndex).
// This mirrors kvm_cpuid_entry2.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// MSREntry is one model-specific register.
// This mirrors kvm_msr_entry.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// LAPICState is the local APIC register page (the xAPIC MMIO layout: register
// at offset 0x20 is the ID, 0x350 LVT LINT0, ...).
// This mirrors kvm_lapic_state.
type LAPICState struct {
	Regs [_KVM_APIC_REG_SIZE]byte
}

// ExceptionEvent is a pending or injected exception.
// This mirrors kvm_vcpu_events.exception.
type ExceptionEvent struct {
	Injected     uint8
	Nr           uint8
	HasErrorCode uint8
	Pending      uint8
	ErrorCode    uint32
}

// InterruptEvent is an injected external interrupt and the interrupt shadow.
// This mirrors kvm_vcpu_events.interrupt.
type InterruptEvent struct {
	Injected uint8
	Nr       uint8
	Soft     uint8
	Shadow   uint8
}

// NMIEvent is the NMI state.
// This mirrors kvm_vcpu_events.nmi.
type NMIEvent struct {
	Injected uint8
	Pending  uint8
	Masked   uint8
	_        uint8
}

// SMIEvent is the SMM state.
// This mirrors kvm_vcpu_events.smi.
type SMIEvent struct {
	SMM          uint8
	Pending      uint8
	SMMInsideNMI uint8
	LatchedInit  uint8
}

// VCPUEvents is the vCPU's pending/injected event state. Flags
// (VCPUEventValid*) says which optional fields SetVCPUEvents should apply.
// This mirrors kvm_vcpu_events.
type VCPUEvents struct {
	Exception           ExceptionEvent
	Interrupt           InterruptEvent
	NMI                 NMIEvent
	SIPIVector          uint32
	Flags               uint32
	SMI                 SMIEvent
	TripleFaultPending  uint8 // kvm_vcpu_events.triple_fault.pending
	_                   [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}

// ClockData is the VM's kvmclock value (ns).
// This mirrors kvm_clock_data.
type ClockData struct {
	Clock    uint64
	Flags    uint32
	_        uint32
	Realtime uint64
	HostTSC  uint64
	_        [4]uint32
}

// userspaceMemoryRegion mirrors kvm_userspace_memory_region.
type userspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// irqLevel mirrors kvm_irq_level.
type irqLevel struct {
	IRQ   uint32
	Level uint32
}

// irqfd mirrors kvm_irqfd.
type irqfd struct {
	FD         uint32
	GSI        uint32
	Flags      uint32
	ResampleFD uint32
	_          [16]uint8
}

// ioeventfd mirrors kvm_ioeventfd.
type ioeventfd struct {
	Datamatch uint64
	Addr      uint64
	Len       uint32
	FD        int32
	Flags     uint32
	_         [36]uint8
}

// pitConfig mirrors kvm_pit_config.
type pitConfig struct {
	Flags uint32
	_     [15]uint32
}

// mpState mirrors kvm_mp_state.
type mpState struct {
	MPState uint32
}

// Sizes of the variable-length headers and elements, used to lay out byte
// buffers (const_test.go checks them against unsafe.Sizeof of mirrors of
// kvm_cpuid2, kvm_cpuid_entry2, kvm_msrs, kvm_msr_entry and kvm_msr_list).
const (
	sizeofCPUID2Header  = 8
	sizeofCPUIDEntry    = 40
	sizeofMSRsHeader    = 8
	sizeofMSREntry      = 16
	sizeofMSRListHeader = 4
)
