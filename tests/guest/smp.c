/*
 * smp: starts the second vCPU the way an OS does and counts the CPUs up.
 *
 * The BSP copies the real-mode trampoline (smp_tramp.S) to TRAMPOLINE_ADDR,
 * enables its local APIC (xAPIC MMIO at 0xfee00000, identity-mapped; KVM's
 * in-kernel LAPIC serves it) and sends the AP with APIC ID 1 (vCPU 1; hull's
 * MP table names the same IDs) INIT, INIT de-assert, then two STARTUP IPIs
 * with vector TRAMPOLINE_VECTOR. It then waits, bounded by about a second of
 * TSC ticks, for the AP to bump the counter at AP_COUNTER_ADDR.
 *
 * Output with two vCPUs:
 *
 *	smp: BSP APIC ID 0, starting APIC ID 1
 *	smp: AP running in real mode          (printed by the AP)
 *	smp: 2 cpus up                        (exit code 0)
 *
 * or "smp: only 1 cpu up" and exit code 1 when no AP answered.
 */
#include "lib.h"
#include "smp.h"

#define LAPIC_BASE        0xfee00000UL
#define LAPIC_ID          0x020
#define LAPIC_SVR         0x0f0 /* spurious-interrupt vector register */
#define LAPIC_ICR_LOW     0x300 /* writing it sends the IPI */
#define LAPIC_ICR_HIGH    0x310 /* destination in bits 31:24 */

#define SVR_APIC_ENABLE   0x100
#define SVR_VECTOR        0xff
#define ICR_DM_INIT       0x500
#define ICR_DM_STARTUP    0x600
#define ICR_SEND_PENDING  0x1000
#define ICR_LEVEL_ASSERT  0x4000
#define ICR_TRIGGER_LEVEL 0x8000

#define AP_APIC_ID        1

/* TSC ticks, assuming a TSC of roughly 1-3 GHz; only bounds, never needed
 * for correctness under KVM, which delivers INIT and SIPI at once. */
#define TICKS_10MS        30000000ULL
#define TICKS_200US       600000ULL
#define TICKS_TIMEOUT     3000000000ULL
#define ICR_POLL_LIMIT    1000000

extern const char smp_tramp_start[], smp_tramp_end[];

static inline uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static void delay(uint64_t ticks)
{
	uint64_t start = rdtsc();
	while (rdtsc() - start < ticks)
		cpu_relax();
}

/* send_ipi sends one IPI to apic_id and waits for the ICR to go idle. */
static int send_ipi(uint32_t apic_id, uint32_t icr)
{
	lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
	lapic_write(LAPIC_ICR_LOW, icr);
	for (int i = 0; i < ICR_POLL_LIMIT; i++) {
		if (!(lapic_read(LAPIC_ICR_LOW) & ICR_SEND_PENDING))
			return 1;
		cpu_relax();
	}
	puts("smp: IPI still pending");
	return 0;
}

uint32_t guest_main(const uint8_t *bp)
{
	volatile uint32_t *count = (volatile uint32_t *)AP_COUNTER_ADDR;
	size_t len = (size_t)(smp_tramp_end - smp_tramp_start);

	(void)bp;
	if (len > AP_COUNTER_ADDR - TRAMPOLINE_ADDR) {
		puts("smp: trampoline too large");
		return 2;
	}
	memcpy((void *)TRAMPOLINE_ADDR, smp_tramp_start, len);
	*count = 0;

	lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | SVR_APIC_ENABLE | SVR_VECTOR);
	print("smp: BSP APIC ID ");
	put_dec(lapic_read(LAPIC_ID) >> 24);
	print(", starting APIC ID ");
	put_dec(AP_APIC_ID);
	putc('\n');

	/* The MP spec's universal start-up algorithm (B.4): INIT, de-assert,
	 * 10 ms, STARTUP, 200 us, STARTUP. KVM ignores the de-assert and the
	 * second STARTUP once the AP runs. */
	if (!send_ipi(AP_APIC_ID, ICR_DM_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL) ||
	    !send_ipi(AP_APIC_ID, ICR_DM_INIT | ICR_TRIGGER_LEVEL))
		return 3;
	delay(TICKS_10MS);
	for (int i = 0; i < 2; i++) {
		if (!send_ipi(AP_APIC_ID, ICR_DM_STARTUP | TRAMPOLINE_VECTOR))
			return 3;
		delay(TICKS_200US);
	}

	uint64_t start = rdtsc();
	while (*count == 0 && rdtsc() - start < TICKS_TIMEOUT)
		cpu_relax();

	uint32_t cpus = 1 + *count;
	if (cpus < 2) {
		puts("smp: only 1 cpu up");
		return 1;
	}
	print("smp: ");
	put_dec(cpus);
	puts(" cpus up");
	return 0;
}
