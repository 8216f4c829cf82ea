/*
 * spin: prints "spin: spinning forever" and loops without ever exiting to
 * the VMM, so only the host can stop it (the cancellation test).
 */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	(void)bp;
	puts("spin: spinning forever");
	for (;;)
		__asm__ volatile("pause");
}
