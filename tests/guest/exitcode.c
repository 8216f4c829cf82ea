/* exitcode: exits with code 42 without printing anything. */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	(void)bp;
	exit(42);
}
