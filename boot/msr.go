package boot

// MSR is one model-specific register value, as struct kvm_msr_entry.
type MSR struct {
	Index uint32
	Value uint64
}

// MSR indices (Intel SDM vol. 4, Table 2-2; Linux arch/x86/include/asm/
// msr-index.h names in comments).
const (
	msrIA32TSC          = 0x00000010 // MSR_IA32_TSC
	msrIA32SysenterCS   = 0x00000174 // MSR_IA32_SYSENTER_CS
	msrIA32SysenterESP  = 0x00000175 // MSR_IA32_SYSENTER_ESP
	msrIA32SysenterEIP  = 0x00000176 // MSR_IA32_SYSENTER_EIP
	msrIA32MiscEnable   = 0x000001a0 // MSR_IA32_MISC_ENABLE
	msrMTRRDefType      = 0x000002ff // MSR_MTRRdefType
	msrSTAR             = 0xc0000081 // MSR_STAR: SYSCALL segment selectors
	msrLSTAR            = 0xc0000082 // MSR_LSTAR: 64-bit SYSCALL target
	msrCSTAR            = 0xc0000083 // MSR_CSTAR: compat-mode SYSCALL target
	msrSyscallMask      = 0xc0000084 // MSR_SYSCALL_MASK: RFLAGS cleared by SYSCALL
	msrKernelGSBase     = 0xc0000102 // MSR_KERNEL_GS_BASE: SWAPGS's other GS base
	miscEnableFastStr   = 1 << 0     // MSR_IA32_MISC_ENABLE_FAST_STRING: fast REP MOVS/STOS
	mtrrDefTypeEnable   = 1 << 11    // MTRRdefType.E: MTRRs enabled
	mtrrTypeWriteBack   = 6          // memory type WB
	mtrrDefTypeWBEnable = mtrrDefTypeEnable | mtrrTypeWriteBack
)

// BootMSRs returns the MSR values every vCPU starts with, as Firecracker's
// create_boot_msr_entries: the SYSENTER and SYSCALL MSRs and KERNEL_GS_BASE
// cleared (the kernel programs them in syscall_init), the TSC at 0, fast
// strings enabled (as firmware leaves IA32_MISC_ENABLE), and MTRRs enabled
// with write-back as the default type — without it every guest access would
// be uncached, since there is no firmware to program the MTRRs.
func BootMSRs() []MSR {
	return []MSR{
		{Index: msrIA32SysenterCS},
		{Index: msrIA32SysenterESP},
		{Index: msrIA32SysenterEIP},
		{Index: msrSTAR},
		{Index: msrCSTAR},
		{Index: msrKernelGSBase},
		{Index: msrSyscallMask},
		{Index: msrLSTAR},
		{Index: msrIA32TSC},
		{Index: msrIA32MiscEnable, Value: miscEnableFastStr},
		{Index: msrMTRRDefType, Value: mtrrDefTypeWBEnable},
	}
}
