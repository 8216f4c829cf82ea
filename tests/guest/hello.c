/* hello: prints one line and exits with 0. */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	(void)bp;
	puts("hello from the guest");
	return 0;
}
