/*
 * start.S: entry point of every hull test guest.
 *
 * hull enters here as it enters a vmlinux (64-bit direct boot, DESIGN.md §3):
 * long mode, paging on with the first 4 GiB identity-mapped, interrupts off,
 * RSP = 0x8ff0, RSI = boot_params (0x7000). We zero .bss (hull's loader does
 * too, but a guest should not depend on what it is testing), move to our own
 * 16 KiB stack in .bss and call guest_main(bp); its result goes to the exit
 * port. exit() never returns.
 */
	.section .text.start, "ax"
	.code64
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	movq %rsi, %r12                 /* boot_params; callee-saved, survives rep stosb */

	leaq __bss_start(%rip), %rdi
	leaq __bss_end(%rip), %rcx
	subq %rdi, %rcx
	xorl %eax, %eax
	rep stosb

	leaq __stack_top(%rip), %rsp    /* 16-byte aligned by the linker script */
	xorl %ebp, %ebp
	movq %r12, %rdi
	call guest_main
	movl %eax, %edi
	call exit
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
