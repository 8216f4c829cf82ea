package kvm

import "strconv"

// ABI numbers from include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h
// (checked against linux-libc-dev 6.1). Names are the kernel's; const_test.go
// recomputes every ioctl number with _IOC from the mirrored struct sizes.

// KVMIO is the ioctl type byte of every KVM ioctl.
const _KVMIO = 0xAE //nolint:revive,stylecheck

// KVM_API_VERSION is the only API version this package speaks.
const _KVM_API_VERSION = 12 //nolint:revive,stylecheck

// System ioctls (on the /dev/kvm fd).
//
//nolint:revive,stylecheck
const (
	_KVM_GET_API_VERSION     = 0xAE00     // _IO(KVMIO, 0x00)
	_KVM_CREATE_VM           = 0xAE01     // _IO(KVMIO, 0x01)
	_KVM_GET_MSR_INDEX_LIST  = 0xC004AE02 // _IOWR(KVMIO, 0x02, struct kvm_msr_list)
	_KVM_CHECK_EXTENSION     = 0xAE03     // _IO(KVMIO, 0x03)
	_KVM_GET_VCPU_MMAP_SIZE  = 0xAE04     // _IO(KVMIO, 0x04)
	_KVM_GET_SUPPORTED_CPUID = 0xC008AE05 // _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
)

// VM ioctls (on a VM fd).
//
//nolint:revive,stylecheck
const (
	_KVM_CREATE_VCPU            = 0xAE41     // _IO(KVMIO, 0x41)
	_KVM_SET_USER_MEMORY_REGION = 0x4020AE46 // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)
	_KVM_SET_TSS_ADDR           = 0xAE47     // _IO(KVMIO, 0x47)
	_KVM_SET_IDENTITY_MAP_ADDR  = 0x4008AE48 // _IOW(KVMIO, 0x48, __u64)
	_KVM_CREATE_IRQCHIP         = 0xAE60     // _IO(KVMIO, 0x60)
	_KVM_IRQ_LINE               = 0x4008AE61 // _IOW(KVMIO, 0x61, struct kvm_irq_level)
	_KVM_IRQFD                  = 0x4020AE76 // _IOW(KVMIO, 0x76, struct kvm_irqfd)
	_KVM_CREATE_PIT2            = 0x4040AE77 // _IOW(KVMIO, 0x77, struct kvm_pit_config)
	_KVM_IOEVENTFD              = 0x4040AE79 // _IOW(KVMIO, 0x79, struct kvm_ioeventfd)
	_KVM_SET_CLOCK              = 0x4030AE7B // _IOW(KVMIO, 0x7b, struct kvm_clock_data)
	_KVM_GET_CLOCK              = 0x8030AE7C // _IOR(KVMIO, 0x7c, struct kvm_clock_data)
	_KVM_GET_IRQCHIP            = 0xC208AE62 // _IOWR(KVMIO, 0x62, struct kvm_irqchip)
	_KVM_SET_IRQCHIP            = 0x8208AE63 // _IOR(KVMIO, 0x63, struct kvm_irqchip) (sic: _IOR)
	_KVM_GET_PIT2               = 0x8070AE9F // _IOR(KVMIO, 0x9f, struct kvm_pit_state2)
	_KVM_SET_PIT2               = 0x4070AEA0 // _IOW(KVMIO, 0xa0, struct kvm_pit_state2)
)

// vCPU ioctls (on a vCPU fd).
//
//nolint:revive,stylecheck
const (
	_KVM_RUN             = 0xAE80     // _IO(KVMIO, 0x80)
	_KVM_GET_REGS        = 0x8090AE81 // _IOR(KVMIO, 0x81, struct kvm_regs)
	_KVM_SET_REGS        = 0x4090AE82 // _IOW(KVMIO, 0x82, struct kvm_regs)
	_KVM_GET_SREGS       = 0x8138AE83 // _IOR(KVMIO, 0x83, struct kvm_sregs)
	_KVM_SET_SREGS       = 0x4138AE84 // _IOW(KVMIO, 0x84, struct kvm_sregs)
	_KVM_GET_MSRS        = 0xC008AE88 // _IOWR(KVMIO, 0x88, struct kvm_msrs)
	_KVM_SET_MSRS        = 0x4008AE89 // _IOW(KVMIO, 0x89, struct kvm_msrs)
	_KVM_GET_FPU         = 0x81A0AE8C // _IOR(KVMIO, 0x8c, struct kvm_fpu)
	_KVM_SET_FPU         = 0x41A0AE8D // _IOW(KVMIO, 0x8d, struct kvm_fpu)
	_KVM_GET_LAPIC       = 0x8400AE8E // _IOR(KVMIO, 0x8e, struct kvm_lapic_state)
	_KVM_SET_LAPIC       = 0x4400AE8F // _IOW(KVMIO, 0x8f, struct kvm_lapic_state)
	_KVM_SET_CPUID2      = 0x4008AE90 // _IOW(KVMIO, 0x90, struct kvm_cpuid2)
	_KVM_GET_MP_STATE    = 0x8004AE98 // _IOR(KVMIO, 0x98, struct kvm_mp_state)
	_KVM_SET_MP_STATE    = 0x4004AE99 // _IOW(KVMIO, 0x99, struct kvm_mp_state)
	_KVM_GET_VCPU_EVENTS = 0x8040AE9F // _IOR(KVMIO, 0x9f, struct kvm_vcpu_events)
	_KVM_SET_VCPU_EVENTS = 0x4040AEA0 // _IOW(KVMIO, 0xa0, struct kvm_vcpu_events)
	_KVM_GET_CPUID2      = 0xC008AE91 // _IOWR(KVMIO, 0x91, struct kvm_cpuid2)
	_KVM_GET_DEBUGREGS   = 0x8080AEA1 // _IOR(KVMIO, 0xa1, struct kvm_debugregs)
	_KVM_SET_DEBUGREGS   = 0x4080AEA2 // _IOW(KVMIO, 0xa2, struct kvm_debugregs)
	_KVM_SET_TSC_KHZ     = 0xAEA2     // _IO(KVMIO, 0xa2)
	_KVM_GET_TSC_KHZ     = 0xAEA3     // _IO(KVMIO, 0xa3)
	_KVM_GET_XSAVE       = 0x9000AEA4 // _IOR(KVMIO, 0xa4, struct kvm_xsave)
	_KVM_SET_XSAVE       = 0x5000AEA5 // _IOW(KVMIO, 0xa5, struct kvm_xsave)
	_KVM_GET_XCRS        = 0x8188AEA6 // _IOR(KVMIO, 0xa6, struct kvm_xcrs)
	_KVM_SET_XCRS        = 0x4188AEA7 // _IOW(KVMIO, 0xa7, struct kvm_xcrs)
	_KVM_KVMCLOCK_CTRL   = 0xAEAD     // _IO(KVMIO, 0xad)
	_KVM_GET_XSAVE2      = 0x9000AECF // _IOR(KVMIO, 0xcf, struct kvm_xsave)
)

// Flags of kvm_irqfd, kvm_ioeventfd and kvm_userspace_memory_region.
//
//nolint:revive,stylecheck
const (
	_KVM_IRQFD_FLAG_DEASSIGN      = 1 << 0
	_KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
	_KVM_IOEVENTFD_FLAG_PIO       = 1 << 1
	_KVM_IOEVENTFD_FLAG_DEASSIGN  = 1 << 2
)

// Memory region flags for SetUserMemoryRegion (KVM_MEM_*).
const (
	MemLogDirtyPages uint32 = 1 << 0 // KVM_MEM_LOG_DIRTY_PAGES
	MemReadonly      uint32 = 1 << 1 // KVM_MEM_READONLY
)

// Limits of the variable-length ioctls.
//
//nolint:revive,stylecheck
const (
	_KVM_MAX_CPUID_ENTRIES = 256 // arch/x86/include/asm/kvm_host.h
	_KVM_APIC_REG_SIZE     = 0x400
	_KVM_NR_INTERRUPTS     = 256
	_KVM_XSAVE_SIZE        = 4096 // sizeof(struct kvm_xsave) without its flexible extra[]
	_KVM_MAX_XCRS          = 16
	_KVM_IOAPIC_NUM_PINS   = 24
	_KVM_IRQCHIP_SIZE      = 512 // the kvm_irqchip.chip union
	_KVM_MAX_MSR_IO        = 255 // KVM_GET/SET_MSRS take fewer than MAX_IO_MSRS (256) entries
)

// Offsets inside struct kvm_run (the first page of a vCPU mapping).
//
//nolint:revive,stylecheck
const (
	_KVM_RUN_immediate_exit = 1
	_KVM_RUN_exit_reason    = 8
	_KVM_RUN_union          = 32 // the exit-specific union
	_KVM_RUN_union_size     = 256

	_KVM_RUN_io_direction   = _KVM_RUN_union + 0
	_KVM_RUN_io_size        = _KVM_RUN_union + 1
	_KVM_RUN_io_port        = _KVM_RUN_union + 2
	_KVM_RUN_io_count       = _KVM_RUN_union + 4
	_KVM_RUN_io_data_offset = _KVM_RUN_union + 8

	_KVM_RUN_mmio_phys_addr = _KVM_RUN_union + 0
	_KVM_RUN_mmio_data      = _KVM_RUN_union + 8
	_KVM_RUN_mmio_len       = _KVM_RUN_union + 16
	_KVM_RUN_mmio_is_write  = _KVM_RUN_union + 20

	_KVM_RUN_internal_suberror = _KVM_RUN_union + 0
	_KVM_RUN_internal_ndata    = _KVM_RUN_union + 4
	_KVM_RUN_internal_data     = _KVM_RUN_union + 8

	_KVM_RUN_system_event_type  = _KVM_RUN_union + 0
	_KVM_RUN_system_event_ndata = _KVM_RUN_union + 4
	_KVM_RUN_system_event_data  = _KVM_RUN_union + 8

	_KVM_RUN_fail_entry_reason = _KVM_RUN_union + 0 // hardware_entry_failure_reason
	_KVM_RUN_fail_entry_cpu    = _KVM_RUN_union + 8

	_KVM_RUN_data_max = 16 // internal.data[] and system_event.data[] entries
	_KVM_RUN_mmio_max = 8  // mmio.data[] bytes
)

// Cap is a KVM capability number for CheckExtension (KVM_CAP_*).
type Cap uint32

// Capabilities (KVM_CAP_*).
const (
	CapIRQChip            Cap = 0   // KVM_CAP_IRQCHIP
	CapHLT                Cap = 1   // KVM_CAP_HLT
	CapUserMemory         Cap = 3   // KVM_CAP_USER_MEMORY
	CapSetTSSAddr         Cap = 4   // KVM_CAP_SET_TSS_ADDR
	CapExtCPUID           Cap = 7   // KVM_CAP_EXT_CPUID
	CapClocksource        Cap = 8   // KVM_CAP_CLOCKSOURCE
	CapNrVCPUs            Cap = 9   // KVM_CAP_NR_VCPUS: recommended vCPUs per VM
	CapNrMemslots         Cap = 10  // KVM_CAP_NR_MEMSLOTS
	CapPIT                Cap = 11  // KVM_CAP_PIT
	CapNopIODelay         Cap = 12  // KVM_CAP_NOP_IO_DELAY
	CapMPState            Cap = 14  // KVM_CAP_MP_STATE
	CapCoalescedMMIO      Cap = 15  // KVM_CAP_COALESCED_MMIO
	CapSyncMMU            Cap = 16  // KVM_CAP_SYNC_MMU
	CapIRQRouting         Cap = 25  // KVM_CAP_IRQ_ROUTING
	CapIRQInjectStatus    Cap = 26  // KVM_CAP_IRQ_INJECT_STATUS
	CapIRQFD              Cap = 32  // KVM_CAP_IRQFD
	CapPIT2               Cap = 33  // KVM_CAP_PIT2
	CapPITState2          Cap = 35  // KVM_CAP_PIT_STATE2
	CapIOEventFD          Cap = 36  // KVM_CAP_IOEVENTFD
	CapSetIdentityMapAddr Cap = 37  // KVM_CAP_SET_IDENTITY_MAP_ADDR
	CapAdjustClock        Cap = 39  // KVM_CAP_ADJUST_CLOCK
	CapVCPUEvents         Cap = 41  // KVM_CAP_VCPU_EVENTS
	CapDebugRegs          Cap = 50  // KVM_CAP_DEBUGREGS
	CapXSave              Cap = 55  // KVM_CAP_XSAVE
	CapXCRs               Cap = 56  // KVM_CAP_XCRS
	CapTSCControl         Cap = 60  // KVM_CAP_TSC_CONTROL
	CapGetTSCKHz          Cap = 61  // KVM_CAP_GET_TSC_KHZ
	CapMaxVCPUs           Cap = 66  // KVM_CAP_MAX_VCPUS: maximum vCPUs per VM
	CapOneReg             Cap = 70  // KVM_CAP_ONE_REG
	CapKVMClockCtrl       Cap = 76  // KVM_CAP_KVMCLOCK_CTRL
	CapReadonlyMem        Cap = 81  // KVM_CAP_READONLY_MEM
	CapSplitIRQChip       Cap = 121 // KVM_CAP_SPLIT_IRQCHIP
	CapMaxVCPUID          Cap = 128 // KVM_CAP_MAX_VCPU_ID
	CapX2APICAPI          Cap = 129 // KVM_CAP_X2APIC_API
	CapImmediateExit      Cap = 136 // KVM_CAP_IMMEDIATE_EXIT
	CapXSave2             Cap = 208 // KVM_CAP_XSAVE2: the kvm_xsave size KVM_GET_XSAVE2 needs
)

var capNames = map[Cap]string{
	CapIRQChip:            "KVM_CAP_IRQCHIP",
	CapHLT:                "KVM_CAP_HLT",
	CapUserMemory:         "KVM_CAP_USER_MEMORY",
	CapSetTSSAddr:         "KVM_CAP_SET_TSS_ADDR",
	CapExtCPUID:           "KVM_CAP_EXT_CPUID",
	CapClocksource:        "KVM_CAP_CLOCKSOURCE",
	CapNrVCPUs:            "KVM_CAP_NR_VCPUS",
	CapNrMemslots:         "KVM_CAP_NR_MEMSLOTS",
	CapPIT:                "KVM_CAP_PIT",
	CapNopIODelay:         "KVM_CAP_NOP_IO_DELAY",
	CapMPState:            "KVM_CAP_MP_STATE",
	CapCoalescedMMIO:      "KVM_CAP_COALESCED_MMIO",
	CapSyncMMU:            "KVM_CAP_SYNC_MMU",
	CapIRQRouting:         "KVM_CAP_IRQ_ROUTING",
	CapIRQInjectStatus:    "KVM_CAP_IRQ_INJECT_STATUS",
	CapIRQFD:              "KVM_CAP_IRQFD",
	CapPIT2:               "KVM_CAP_PIT2",
	CapPITState2:          "KVM_CAP_PIT_STATE2",
	CapIOEventFD:          "KVM_CAP_IOEVENTFD",
	CapSetIdentityMapAddr: "KVM_CAP_SET_IDENTITY_MAP_ADDR",
	CapAdjustClock:        "KVM_CAP_ADJUST_CLOCK",
	CapVCPUEvents:         "KVM_CAP_VCPU_EVENTS",
	CapDebugRegs:          "KVM_CAP_DEBUGREGS",
	CapXSave:              "KVM_CAP_XSAVE",
	CapXCRs:               "KVM_CAP_XCRS",
	CapTSCControl:         "KVM_CAP_TSC_CONTROL",
	CapGetTSCKHz:          "KVM_CAP_GET_TSC_KHZ",
	CapMaxVCPUs:           "KVM_CAP_MAX_VCPUS",
	CapOneReg:             "KVM_CAP_ONE_REG",
	CapKVMClockCtrl:       "KVM_CAP_KVMCLOCK_CTRL",
	CapReadonlyMem:        "KVM_CAP_READONLY_MEM",
	CapSplitIRQChip:       "KVM_CAP_SPLIT_IRQCHIP",
	CapMaxVCPUID:          "KVM_CAP_MAX_VCPU_ID",
	CapX2APICAPI:          "KVM_CAP_X2APIC_API",
	CapImmediateExit:      "KVM_CAP_IMMEDIATE_EXIT",
	CapXSave2:             "KVM_CAP_XSAVE2",
}

// String returns the kernel's name of c ("KVM_CAP_IRQCHIP"), or
// "KVM_CAP(<n>)" for a number this package does not name.
func (c Cap) String() string {
	if n, ok := capNames[c]; ok {
		return n
	}
	return "KVM_CAP(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Exit reasons (KVM_EXIT_*), as returned by Run.ExitReason.
const (
	ExitUnknown       = 0  // KVM_EXIT_UNKNOWN
	ExitException     = 1  // KVM_EXIT_EXCEPTION
	ExitIO            = 2  // KVM_EXIT_IO
	ExitHypercall     = 3  // KVM_EXIT_HYPERCALL
	ExitDebug         = 4  // KVM_EXIT_DEBUG
	ExitHLT           = 5  // KVM_EXIT_HLT
	ExitMMIO          = 6  // KVM_EXIT_MMIO
	ExitIRQWindowOpen = 7  // KVM_EXIT_IRQ_WINDOW_OPEN
	ExitShutdown      = 8  // KVM_EXIT_SHUTDOWN
	ExitFailEntry     = 9  // KVM_EXIT_FAIL_ENTRY
	ExitIntr          = 10 // KVM_EXIT_INTR
	ExitSetTPR        = 11 // KVM_EXIT_SET_TPR
	ExitTPRAccess     = 12 // KVM_EXIT_TPR_ACCESS
	ExitS390SIEIC     = 13 // KVM_EXIT_S390_SIEIC
	ExitS390Reset     = 14 // KVM_EXIT_S390_RESET
	ExitDCR           = 15 // KVM_EXIT_DCR (deprecated)
	ExitNMI           = 16 // KVM_EXIT_NMI
	ExitInternalError = 17 // KVM_EXIT_INTERNAL_ERROR
	ExitOSI           = 18 // KVM_EXIT_OSI
	ExitPAPRHcall     = 19 // KVM_EXIT_PAPR_HCALL
	ExitS390UControl  = 20 // KVM_EXIT_S390_UCONTROL
	ExitWatchdog      = 21 // KVM_EXIT_WATCHDOG
	ExitS390TSCH      = 22 // KVM_EXIT_S390_TSCH
	ExitEPR           = 23 // KVM_EXIT_EPR
	ExitSystemEvent   = 24 // KVM_EXIT_SYSTEM_EVENT
	ExitS390STSI      = 25 // KVM_EXIT_S390_STSI
	ExitIOAPICEOI     = 26 // KVM_EXIT_IOAPIC_EOI
	ExitHyperV        = 27 // KVM_EXIT_HYPERV
	ExitARMNISV       = 28 // KVM_EXIT_ARM_NISV
	ExitX86RDMSR      = 29 // KVM_EXIT_X86_RDMSR
	ExitX86WRMSR      = 30 // KVM_EXIT_X86_WRMSR
	ExitDirtyRingFull = 31 // KVM_EXIT_DIRTY_RING_FULL
	ExitAPResetHold   = 32 // KVM_EXIT_AP_RESET_HOLD
	ExitX86BusLock    = 33 // KVM_EXIT_X86_BUS_LOCK
	ExitXen           = 34 // KVM_EXIT_XEN
	ExitRISCVSBI      = 35 // KVM_EXIT_RISCV_SBI
	ExitRISCVCSR      = 36 // KVM_EXIT_RISCV_CSR
	ExitNotify        = 37 // KVM_EXIT_NOTIFY
)

var exitNames = [...]string{
	ExitUnknown:       "KVM_EXIT_UNKNOWN",
	ExitException:     "KVM_EXIT_EXCEPTION",
	ExitIO:            "KVM_EXIT_IO",
	ExitHypercall:     "KVM_EXIT_HYPERCALL",
	ExitDebug:         "KVM_EXIT_DEBUG",
	ExitHLT:           "KVM_EXIT_HLT",
	ExitMMIO:          "KVM_EXIT_MMIO",
	ExitIRQWindowOpen: "KVM_EXIT_IRQ_WINDOW_OPEN",
	ExitShutdown:      "KVM_EXIT_SHUTDOWN",
	ExitFailEntry:     "KVM_EXIT_FAIL_ENTRY",
	ExitIntr:          "KVM_EXIT_INTR",
	ExitSetTPR:        "KVM_EXIT_SET_TPR",
	ExitTPRAccess:     "KVM_EXIT_TPR_ACCESS",
	ExitS390SIEIC:     "KVM_EXIT_S390_SIEIC",
	ExitS390Reset:     "KVM_EXIT_S390_RESET",
	ExitDCR:           "KVM_EXIT_DCR",
	ExitNMI:           "KVM_EXIT_NMI",
	ExitInternalError: "KVM_EXIT_INTERNAL_ERROR",
	ExitOSI:           "KVM_EXIT_OSI",
	ExitPAPRHcall:     "KVM_EXIT_PAPR_HCALL",
	ExitS390UControl:  "KVM_EXIT_S390_UCONTROL",
	ExitWatchdog:      "KVM_EXIT_WATCHDOG",
	ExitS390TSCH:      "KVM_EXIT_S390_TSCH",
	ExitEPR:           "KVM_EXIT_EPR",
	ExitSystemEvent:   "KVM_EXIT_SYSTEM_EVENT",
	ExitS390STSI:      "KVM_EXIT_S390_STSI",
	ExitIOAPICEOI:     "KVM_EXIT_IOAPIC_EOI",
	ExitHyperV:        "KVM_EXIT_HYPERV",
	ExitARMNISV:       "KVM_EXIT_ARM_NISV",
	ExitX86RDMSR:      "KVM_EXIT_X86_RDMSR",
	ExitX86WRMSR:      "KVM_EXIT_X86_WRMSR",
	ExitDirtyRingFull: "KVM_EXIT_DIRTY_RING_FULL",
	ExitAPResetHold:   "KVM_EXIT_AP_RESET_HOLD",
	ExitX86BusLock:    "KVM_EXIT_X86_BUS_LOCK",
	ExitXen:           "KVM_EXIT_XEN",
	ExitRISCVSBI:      "KVM_EXIT_RISCV_SBI",
	ExitRISCVCSR:      "KVM_EXIT_RISCV_CSR",
	ExitNotify:        "KVM_EXIT_NOTIFY",
}

// ExitName returns the kernel's name of an exit reason ("KVM_EXIT_IO"), or
// "KVM_EXIT(<n>)" for a number this package does not name.
func ExitName(reason uint32) string {
	if int(reason) < len(exitNames) {
		return exitNames[reason]
	}
	return "KVM_EXIT(" + strconv.FormatUint(uint64(reason), 10) + ")"
}

// KVM_EXIT_IO directions (IOExit.Direction).
const (
	ExitIOIn  = 0 // KVM_EXIT_IO_IN
	ExitIOOut = 1 // KVM_EXIT_IO_OUT
)

// KVM_EXIT_INTERNAL_ERROR suberrors (InternalErrorExit.Suberror).
const (
	InternalErrorEmulation            = 1 // KVM_INTERNAL_ERROR_EMULATION
	InternalErrorSimulEx              = 2 // KVM_INTERNAL_ERROR_SIMUL_EX
	InternalErrorDeliveryEv           = 3 // KVM_INTERNAL_ERROR_DELIVERY_EV
	InternalErrorUnexpectedExitReason = 4 // KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON
)

// KVM_EXIT_SYSTEM_EVENT types (SystemEventExit.Type).
const (
	SystemEventShutdown = 1 // KVM_SYSTEM_EVENT_SHUTDOWN
	SystemEventReset    = 2 // KVM_SYSTEM_EVENT_RESET
	SystemEventCrash    = 3 // KVM_SYSTEM_EVENT_CRASH
	SystemEventWakeup   = 4 // KVM_SYSTEM_EVENT_WAKEUP
	SystemEventSuspend  = 5 // KVM_SYSTEM_EVENT_SUSPEND
	SystemEventSEVTerm  = 6 // KVM_SYSTEM_EVENT_SEV_TERM
)

// MP states for GetMPState/SetMPState (KVM_MP_STATE_*; x86 uses the first five).
const (
	MPStateRunnable      = 0 // KVM_MP_STATE_RUNNABLE
	MPStateUninitialized = 1 // KVM_MP_STATE_UNINITIALIZED
	MPStateInitReceived  = 2 // KVM_MP_STATE_INIT_RECEIVED
	MPStateHalted        = 3 // KVM_MP_STATE_HALTED
	MPStateSIPIReceived  = 4 // KVM_MP_STATE_SIPI_RECEIVED
)

// VCPUEvents.Flags bits (KVM_VCPUEVENT_VALID_*).
const (
	VCPUEventValidNMIPending  = 0x01 // KVM_VCPUEVENT_VALID_NMI_PENDING
	VCPUEventValidSIPIVector  = 0x02 // KVM_VCPUEVENT_VALID_SIPI_VECTOR
	VCPUEventValidShadow      = 0x04 // KVM_VCPUEVENT_VALID_SHADOW
	VCPUEventValidSMM         = 0x08 // KVM_VCPUEVENT_VALID_SMM
	VCPUEventValidPayload     = 0x10 // KVM_VCPUEVENT_VALID_PAYLOAD
	VCPUEventValidTripleFault = 0x20 // KVM_VCPUEVENT_VALID_TRIPLE_FAULT
)

// CPUIDEntry.Flags bits (KVM_CPUID_FLAG_*).
const (
	CPUIDFlagSignificantIndex = 1 << 0 // KVM_CPUID_FLAG_SIGNIFCANT_INDEX (sic)
)

// kvm_irqchip.chip_id values for GetIRQChip/SetIRQChip (KVM_IRQCHIP_*).
const (
	IRQChipPICMaster = 0 // KVM_IRQCHIP_PIC_MASTER
	IRQChipPICSlave  = 1 // KVM_IRQCHIP_PIC_SLAVE
	IRQChipIOAPIC    = 2 // KVM_IRQCHIP_IOAPIC
)

// ClockData.Flags bits (KVM_CLOCK_*). KVM_GET_CLOCK reports them. Since
// 5.16 KVM_SET_CLOCK takes them back but acts only on Realtime (advance the
// clock by the CLOCK_REALTIME time passed since ClockData.Realtime); older
// kernels refuse any flag.
const (
	ClockTSCStable = 1 << 1 // KVM_CLOCK_TSC_STABLE
	ClockRealtime  = 1 << 2 // KVM_CLOCK_REALTIME
	ClockHostTSC   = 1 << 3 // KVM_CLOCK_HOST_TSC
)

// PITState2.Flags bits (KVM_PIT_FLAGS_*).
const (
	PITFlagsHPETLegacy    = 1 << 0 // KVM_PIT_FLAGS_HPET_LEGACY
	PITFlagsSpeakerDataOn = 1 << 1 // KVM_PIT_FLAGS_SPEAKER_DATA_ON
)
