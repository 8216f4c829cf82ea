/* cmdline: prints "cmdline: <the kernel command line>" and exits with 0. */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	print("cmdline: ");
	puts(boot_cmdline(bp));
	return 0;
}
