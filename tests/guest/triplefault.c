/*
 * triplefault: prints "triplefault: loading a null IDT", loads an IDT with
 * limit 0 and executes ud2. The #UD cannot be delivered (no gate), nor can
 * the #GP that follows, nor the #DF: the CPU shuts down, which KVM reports as
 * KVM_EXIT_SHUTDOWN and hull as the stop reason "triple fault".
 *
 * ud2 rather than int3: a software breakpoint needs the instruction emulator
 * on some nested hosts (DESIGN.md §4), #UD is raised by the CPU everywhere.
 * Should the CPU survive anyway, it prints "triplefault: still alive" and
 * exits with 1.
 */
#include "lib.h"

struct __attribute__((packed)) idtr {
	uint16_t limit;
	uint64_t base;
};

uint32_t guest_main(const uint8_t *bp)
{
	static const struct idtr null_idt = { 0, 0 };

	(void)bp;
	puts("triplefault: loading a null IDT");
	__asm__ volatile("lidt %0" : : "m"(null_idt));
	__asm__ volatile("ud2");
	puts("triplefault: still alive");
	return 1;
}
