/* smp.h: addresses shared by smp.c and the AP trampoline (smp_tramp.S). */
#ifndef HULL_GUEST_SMP_H
#define HULL_GUEST_SMP_H

/* The AP starts at TRAMPOLINE_ADDR in real mode: a SIPI with vector v starts
 * it at CS = v << 8, IP = 0, so the address must be page aligned below 1 MiB.
 * 0x6000 lies below the zero page (0x7000) and above hull's GDT/IDT/TSS. */
#define TRAMPOLINE_ADDR   0x6000
#define TRAMPOLINE_VECTOR (TRAMPOLINE_ADDR >> 12)

/* Every AP does `lock incl` here once it runs; the BSP zeroes it first.
 * It is the last dword of the trampoline page, after the copied code. */
#define AP_COUNTER_ADDR   0x6ff0

#define AP_PORT_SERIAL    0x3f8

#endif /* HULL_GUEST_SMP_H */
