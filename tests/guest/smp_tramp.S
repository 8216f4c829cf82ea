/*
 * smp_tramp.S: the application processor's first code, 16-bit real mode.
 *
 * smp.c copies smp_tramp_start..smp_tramp_end to TRAMPOLINE_ADDR and starts
 * the AP there with INIT-SIPI-SIPI (CS = TRAMPOLINE_ADDR >> 4, IP = 0). The
 * code is position independent apart from the absolute addresses derived
 * from TRAMPOLINE_ADDR, which is where it runs. The AP prints
 * "smp: AP running in real mode" on the serial port, only then increments
 * the counter (so the BSP's next line comes after it), and halts for good
 * with interrupts off.
 */
#include "smp.h"

	.section .text, "ax"
	.code16
	.globl smp_tramp_start, smp_tramp_end
smp_tramp_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	movw $(TRAMPOLINE_ADDR + (ap_msg - smp_tramp_start)), %si
	movw $AP_PORT_SERIAL, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	lock incl AP_COUNTER_ADDR
3:	hlt
	jmp 3b
ap_msg:
	.asciz "smp: AP running in real mode\n"
smp_tramp_end:
	.code64

	.section .note.GNU-stack, "", @progbits
