/*
 * e820: prints the memory map from the zero page, one line per entry,
 *
 *	e820: 0x0 0x9fc00 1
 *
 * (address, size, type), then "e820: <n> entries", and exits with 0; with 1
 * when the entry count is beyond the zero page's table.
 */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	unsigned n = boot_e820_count(bp);
	if (n > E820_MAX_ENTRIES) {
		print("e820: bad entry count ");
		put_dec(n);
		putc('\n');
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct e820_entry e = boot_e820_entry(bp, i);
		print("e820: ");
		put_hex(e.addr);
		putc(' ');
		put_hex(e.size);
		putc(' ');
		put_dec(e.type);
		putc('\n');
	}
	print("e820: ");
	put_dec(n);
	puts(" entries");
	return 0;
}
