package boot

import "math/bits"

// CPUIDEntry is one CPUID leaf/subleaf as KVM_GET_SUPPORTED_CPUID and
// KVM_SET_CPUID2 exchange it (struct kvm_cpuid_entry2 without padding).
type CPUIDEntry struct {
	Function, Index, Flags uint32
	EAX, EBX, ECX, EDX     uint32
}

// CPUIDFlagSignificantIndex is KVM_CPUID_FLAG_SIGNIFICANT_INDEX: the entry
// applies only to its Index (subleaf).
const CPUIDFlagSignificantIndex = 1 << 0

// CPUID leaves and bits NormalizeCPUID touches. References: Intel SDM vol.
// 2A, CPUID instruction (Tables 3-8 and 3-10 in the 2024 edition), and AMD
// APM vol. 3 Appendix E ("Obtaining Processor Information Via CPUID").
const (
	leafVendor          = 0x0
	leafFeatures        = 0x1
	leafCacheParams     = 0x4 // Intel deterministic cache parameters
	leafPowerMgmt       = 0x6
	leafPerfMon         = 0xa // Intel architectural performance monitoring
	leafTopology        = 0xb // extended topology
	leafTopologyV2      = 0x1f
	leafHypervisorFirst = 0x40000000 // hypervisor range: KVM's leaves, kept as they are
	leafHypervisorLast  = 0x4fffffff
	leafAMDSizes        = 0x80000008 // AMD: ECX = core count and APIC ID size
	leafAMDCacheTopo    = 0x8000001d // AMD cache topology
	leafAMDExtAPIC      = 0x8000001e // AMD extended APIC ID, core and node IDs

	// CPUID.1
	cpuid1EBXCLFlushShift = 8  // EBX[15:8] CLFLUSH line size in 8-byte units
	cpuid1EBXCountShift   = 16 // EBX[23:16] addressable logical processor IDs
	cpuid1EBXAPICIDShift  = 24 // EBX[31:24] initial APIC ID
	cpuid1EBXClflushLine  = 64 / 8
	cpuid1EBXBrandMask    = 0xff    // EBX[7:0] brand index, kept
	cpuid1ECXPDCM         = 1 << 15 // IA32_PERF_CAPABILITIES present
	cpuid1ECXTSCDeadline  = 1 << 24 // LAPIC TSC-deadline timer
	cpuid1ECXHypervisor   = 1 << 31 // "not used by hardware, reserved for hypervisors"
	cpuid1EDXHTT          = 1 << 28 // EBX[23:16] is valid

	// CPUID.4 EAX (and AMD 0x8000001D EAX, same layout).
	cpuid4EAXLevelShift   = 5     // EAX[7:5] cache level
	cpuid4EAXLevelMask    = 0x7   // 3 bits
	cacheLevelL3          = 3     // shared by all cores of the package
	cpuid4EAXTypeMask     = 0x1f  // EAX[4:0] cache type, 0 = no more caches
	cpuid4EAXSharingShift = 14    // EAX[25:14] logical processors sharing - 1
	cpuid4EAXSharingMask  = 0xfff // 12 bits
	cpuid4EAXCoresShift   = 26    // EAX[31:26] addressable core IDs - 1
	cpuid4EAXCoresMask    = 0x3f  // 6 bits
	// CPUID.6
	cpuid6EAXARAT = 1 << 2 // APIC timer always running: KVM emulates it
	cpuid6ECXEPB  = 1 << 3 // IA32_ENERGY_PERF_BIAS

	// CPUID.B / CPUID.1F
	topoEAXShiftMask = 0x1f // EAX[4:0] bits to shift the x2APIC ID to the next level
	topoECXTypeShift = 8    // ECX[15:8] level type
	topoLevelInvalid = 0
	topoLevelSMT     = 1
	topoLevelCore    = 2

	// AMD CPUID.80000008 ECX.
	amdSizesNCMask        = 0xff // ECX[7:0] NC: physical cores - 1
	amdSizesAPICIDShift   = 12   // ECX[15:12] ApicIdSize: APIC ID bits for the core
	amdSizesAPICIDMask    = 0xf
	amdExtAPICCoreMask    = 0xff // 0x8000001E EBX[7:0] core ID
	amdExtAPICThreadShift = 8    // 0x8000001E EBX[15:8] threads per core - 1
	threadsPerCore        = 1    // no SMT: every vCPU is a core of its own

	vendorAMD   = "AuthenticAMD"
	vendorHygon = "HygonGenuine" // AMD-derived: AMD's topology leaves
)

// NormalizeCPUID turns the CPUID KVM supports into what vCPU cpu (0-based)
// of nCPUs reports: one socket of nCPUs single-threaded cores with APIC IDs
// 0..nCPUs-1, the hypervisor bit set, and the power-management and
// performance-monitoring features a VM cannot honour hidden. It returns a
// new slice and leaves supported untouched; KVM's own leaves
// (0x40000000-0x4fffffff) pass through. nCPUs is clamped to 1..MaxCPUs and
// cpu to 0..nCPUs-1 (the VMM validates both first; this never panics).
//
// Each change, with its reference:
//   - CPUID.1:EBX[31:24] initial APIC ID = cpu; EBX[23:16] = nCPUs rounded up
//     to a power of two (addressable IDs, 255 standing for 256 above 128
//     vCPUs, as the field is 8 bits); EDX.HTT set when nCPUs > 1, as
//     that field is valid only with HTT; EBX[15:8] CLFLUSH line 64 bytes
//     (Intel SDM vol. 2A CPUID, Table 3-10).
//   - CPUID.1:ECX.HYPERVISOR (bit 31) set, so the guest looks for KVM's
//     leaves (Intel SDM Table 3-10 "Not Used", reserved for hypervisors; AMD
//     APM vol. 3 E.3.2 "reserved for use by hypervisor"). ECX.TSC_DEADLINE
//     (bit 24) set: KVM's in-kernel LAPIC always emulates it but
//     KVM_GET_SUPPORTED_CPUID leaves it to the VMM (KVM_CAP_TSC_DEADLINE_TIMER).
//     ECX.PDCM (bit 15) cleared: IA32_PERF_CAPABILITIES is not offered.
//   - CPUID.4 (Intel deterministic cache parameters): EAX[25:14] = 0 for L1
//     and L2 (one thread per core), nCPUs-1 for L3 (shared by the socket);
//     EAX[31:26] = nCPUs-1 cores per package, capped at the field's 63.
//   - CPUID.6 (thermal and power management): EAX keeps only ARAT (bit 2):
//     turbo, HWP, digital thermal sensors and power-limit notification
//     describe host hardware the guest cannot drive; EBX (thermal interrupt
//     thresholds) cleared; ECX.EPB (bit 3, IA32_ENERGY_PERF_BIAS) cleared —
//     no frequency selection inside a VM (Intel SDM Table 3-8 leaf 06H;
//     Firecracker clears turbo and EPB too).
//   - CPUID.0AH (architectural performance monitoring) zeroed: no vPMU is
//     configured, so the guest does not probe PMU MSRs (as Firecracker).
//   - CPUID.0BH and, when KVM lists it, CPUID.1FH (extended topology):
//     subleaf 0 is the SMT level (shift 0, 1 thread), subleaf 1 the core
//     level (shift ceil(log2 nCPUs), nCPUs processors), subleaf 2 invalid;
//     EDX = x2APIC ID = cpu in all of them (Intel SDM leaf 0BH/1FH).
//   - AMD and Hygon only: CPUID.80000008:ECX NC = nCPUs-1 and ApicIdSize =
//     ceil(log2 nCPUs) (AMD APM E.4.7); CPUID.8000001D EAX[25:14] like leaf 4
//     (E.4.15); CPUID.8000001E EAX extended APIC ID = cpu, EBX core ID = cpu
//     with 1 thread per core, ECX node 0 of 1 (E.4.16).
func NormalizeCPUID(supported []CPUIDEntry, cpu, nCPUs int) []CPUIDEntry {
	nCPUs = min(max(nCPUs, 1), MaxCPUs)
	cpu = min(max(cpu, 0), nCPUs-1)
	n := uint32(nCPUs)
	id := uint32(cpu)
	amd := isAMD(supported)

	out := make([]CPUIDEntry, 0, len(supported)+3)
	var hasTopo, hasTopoV2 bool
	for _, e := range supported {
		switch {
		case e.Function >= leafHypervisorFirst && e.Function <= leafHypervisorLast:
			// KVM's leaves (signature, features): as KVM gave them.
		case e.Function == leafFeatures:
			e.EBX = e.EBX&cpuid1EBXBrandMask | cpuid1EBXClflushLine<<cpuid1EBXCLFlushShift |
				min(nextPow2(n), 0xff)<<cpuid1EBXCountShift | id<<cpuid1EBXAPICIDShift
			e.ECX = e.ECX&^cpuid1ECXPDCM | cpuid1ECXTSCDeadline | cpuid1ECXHypervisor
			e.EDX &^= cpuid1EDXHTT
			if n > 1 {
				e.EDX |= cpuid1EDXHTT
			}
		case e.Function == leafCacheParams && !amd && e.EAX&cpuid4EAXTypeMask != 0:
			e.EAX = cacheSharing(e.EAX, n)
			cores := min(n-1, cpuid4EAXCoresMask)
			e.EAX = e.EAX&^(cpuid4EAXCoresMask<<cpuid4EAXCoresShift) | cores<<cpuid4EAXCoresShift
		case e.Function == leafPowerMgmt:
			e.EAX &= cpuid6EAXARAT
			e.EBX = 0
			e.ECX &^= cpuid6ECXEPB
		case e.Function == leafPerfMon && !amd:
			e.EAX, e.EBX, e.ECX, e.EDX = 0, 0, 0, 0
		case e.Function == leafTopology:
			hasTopo = true
			continue // replaced below
		case e.Function == leafTopologyV2:
			hasTopoV2 = true
			continue
		case e.Function == leafAMDSizes && amd:
			e.ECX = e.ECX&^(amdSizesNCMask|amdSizesAPICIDMask<<amdSizesAPICIDShift) |
				(n-1)&amdSizesNCMask | ceilLog2(n)<<amdSizesAPICIDShift
		case e.Function == leafAMDCacheTopo && amd:
			e.EAX = cacheSharing(e.EAX, n)
		case e.Function == leafAMDExtAPIC && amd:
			e.EAX = id // extended APIC ID
			e.EBX = id&amdExtAPICCoreMask | (threadsPerCore-1)<<amdExtAPICThreadShift
			e.ECX = 0 // node ID 0, one node per processor (NodesPerProcessor-1 = 0)
		}
		out = append(out, e)
	}
	if hasTopo {
		out = append(out, topologyLeaf(leafTopology, id, n)...)
	}
	if hasTopoV2 {
		out = append(out, topologyLeaf(leafTopologyV2, id, n)...)
	}
	return out
}

// cacheSharing sets EAX[25:14] of a leaf 4 / 0x8000001D subleaf: L1 and L2
// are private to a (single-threaded) core, L3 is shared by the socket.
// Subleaves past the last cache (type 0, "null") are left alone.
func cacheSharing(eax, n uint32) uint32 {
	if eax&cpuid4EAXTypeMask == 0 {
		return eax
	}
	var sharing uint32
	if eax>>cpuid4EAXLevelShift&cpuid4EAXLevelMask >= cacheLevelL3 {
		sharing = min(n-1, cpuid4EAXSharingMask)
	}
	return eax&^(cpuid4EAXSharingMask<<cpuid4EAXSharingShift) | sharing<<cpuid4EAXSharingShift
}

// topologyLeaf returns the three subleaves of leaf 0xB or 0x1F.
func topologyLeaf(fn, id, n uint32) []CPUIDEntry {
	return []CPUIDEntry{
		{Function: fn, Index: 0, Flags: CPUIDFlagSignificantIndex,
			EAX: 0, EBX: 1, ECX: topoLevelSMT << topoECXTypeShift, EDX: id},
		{Function: fn, Index: 1, Flags: CPUIDFlagSignificantIndex,
			EAX: ceilLog2(n) & topoEAXShiftMask, EBX: n, ECX: topoLevelCore<<topoECXTypeShift | 1, EDX: id},
		{Function: fn, Index: 2, Flags: CPUIDFlagSignificantIndex,
			EAX: 0, EBX: 0, ECX: topoLevelInvalid<<topoECXTypeShift | 2, EDX: id},
	}
}

// isAMD reports whether leaf 0 names AMD or Hygon, whose topology lives in
// the 0x8000001x leaves.
func isAMD(entries []CPUIDEntry) bool {
	for _, e := range entries {
		if e.Function == leafVendor {
			v := string([]byte{ // EBX, EDX, ECX, each little-endian
				byte(e.EBX), byte(e.EBX >> 8), byte(e.EBX >> 16), byte(e.EBX >> 24),
				byte(e.EDX), byte(e.EDX >> 8), byte(e.EDX >> 16), byte(e.EDX >> 24),
				byte(e.ECX), byte(e.ECX >> 8), byte(e.ECX >> 16), byte(e.ECX >> 24),
			})
			return v == vendorAMD || v == vendorHygon
		}
	}
	return false
}

// nextPow2 returns the least power of two >= v (v >= 1).
func nextPow2(v uint32) uint32 { return 1 << ceilLog2(v) }

// ceilLog2 returns ceil(log2(v)) for v >= 1.
func ceilLog2(v uint32) uint32 { return uint32(bits.Len32(v - 1)) }
