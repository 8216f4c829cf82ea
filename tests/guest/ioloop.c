/*
 * ioloop: reads n from the command line word "n=<decimal>" (0 when absent),
 * prints "ioloop: n=<n>", does n one-byte writes to port 0xf5 (no device
 * there: each one is an I/O exit that hull ignores), prints "ioloop: done"
 * and exits with 0; with 2 when the n= word is present but malformed. The
 * benchmark for the I/O-exit round trip.
 */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	const char *cl = boot_cmdline(bp);
	uint32_t n = 0;

	if (!cmdline_u32(cl, "n", &n)) {
		for (size_t i = 0; cl[i]; i++) {
			if ((i == 0 || cl[i - 1] == ' ') && cl[i] == 'n' && cl[i + 1] == '=') {
				puts("ioloop: bad n= on the command line");
				return 2;
			}
		}
	}
	print("ioloop: n=");
	put_dec(n);
	putc('\n');
	for (uint32_t i = 0; i < n; i++)
		outb(PORT_UNHANDLED, (uint8_t)i);
	puts("ioloop: done");
	return 0;
}
