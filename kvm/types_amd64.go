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

// XSaveSize is the size of the fixed kvm_xsave (KVM_GET_XSAVE); a host with
// dynamically enabled state components (AMX) needs KVM_CAP_XSAVE2's larger
// size (VCPU.XSaveSize).
const XSaveSize = _KVM_XSAVE_SIZE

// XCR is one extended control register (index 0 is XCR0).
// This mirrors kvm_xcr.
type XCR struct {
	XCR   uint32
	_     uint32
	Value uint64
}

// XCRs is the extended control register set. Flags must be 0.
// This mirrors kvm_xcrs.
type XCRs struct {
	NrXCRs uint32
	Flags  uint32
	XCRs   [_KVM_MAX_XCRS]XCR
	_      [16]uint64
}

// DebugRegs holds DR0-3, DR6 and DR7. Flags must be 0.
// This mirrors kvm_debugregs.
type DebugRegs struct {
	DB    [4]uint64
	DR6   uint64
	DR7   uint64
	Flags uint64
	_     [9]uint64
}

// IRQChip is the state of one in-kernel interrupt controller: ChipID says
// which (IRQChip*), Chip holds a kvm_pic_state or a kvm_ioapic_state (read
// and written with PIC/SetPIC and IOAPIC/SetIOAPIC).
// This mirrors kvm_irqchip.
type IRQChip struct {
	ChipID uint32
	_      uint32
	Chip   [_KVM_IRQCHIP_SIZE]byte
}

// PICState is one i8259's state.
// This mirrors kvm_pic_state.
type PICState struct {
	LastIRR                uint8 // edge detection
	IRR                    uint8 // interrupt request register
	IMR                    uint8 // interrupt mask register
	ISR                    uint8 // interrupt service register
	PriorityAdd            uint8 // highest IRQ priority
	IRQBase                uint8
	ReadRegSelect          uint8
	Poll                   uint8
	SpecialMask            uint8
	InitState              uint8
	AutoEOI                uint8
	RotateOnAutoEOI        uint8
	SpecialFullyNestedMode uint8
	Init4                  uint8 // true if 4 byte init
	ELCR                   uint8 // PIIX edge/trigger selection
	ELCRMask               uint8
}

// IOAPICState is the IOAPIC's state; each RedirTbl entry is the 64-bit
// redirection table entry of one pin (vector in bits 0-7, mask bit 16,
// destination in bits 56-63).
// This mirrors kvm_ioapic_state.
type IOAPICState struct {
	BaseAddress uint64
	IORegSel    uint32
	ID          uint32
	IRR         uint32
	_           uint32
	RedirTbl    [_KVM_IOAPIC_NUM_PINS]uint64
}

// PITChannelState is one i8254 channel. CountLoadTime is a host
// CLOCK_MONOTONIC time in ns: KVM_SET_PIT2 ignores it and reloads the count
// from now.
// This mirrors kvm_pit_channel_state.
type PITChannelState struct {
	Count         uint32 // can be 65536
	LatchedCount  uint16
	CountLatched  uint8
	StatusLatched uint8
	Status        uint8
	ReadState     uint8
	WriteState    uint8
	WriteLatch    uint8
	RWMode        uint8
	Mode          uint8
	BCD           uint8
	Gate          uint8
	CountLoadTime int64
}

// PITState2 is the in-kernel PIT's state; Flags has PITFlags* bits.
// This mirrors kvm_pit_state2.
type PITState2 struct {
	Channels [3]PITChannelState
	Flags    uint32
	_        [9]uint32
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
