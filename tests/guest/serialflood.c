/*
 * serialflood: writes 64 KiB to the serial port as 1024 lines of 64 bytes,
 *
 *	flood <i as 4 hex digits> <52 pattern characters>\n
 *
 * where pattern character j of line i is ALPHABET[(7*i + j) % 62], then the
 * line "flood: done 1024 lines 65536 bytes" and exits with 0. Every fourth
 * line (i % 4 == 0) goes out one outb per byte, the others with one
 * `rep outsb` per line, so both the single and the string I/O exit paths
 * carry data. tests/guest/guesttest.FloodOutput builds the same bytes.
 */
#include "lib.h"

#define FLOOD_LINES   1024
#define FLOOD_LINELEN 64
#define FLOOD_PREFIX  11 /* "flood xxxx " */

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void make_line(char *line, unsigned i)
{
	static const char hex[] = "0123456789abcdef";
	memcpy(line, "flood ", 6);
	line[6] = hex[(i >> 12) & 0xf];
	line[7] = hex[(i >> 8) & 0xf];
	line[8] = hex[(i >> 4) & 0xf];
	line[9] = hex[i & 0xf];
	line[10] = ' ';
	for (unsigned j = 0; j < FLOOD_LINELEN - FLOOD_PREFIX - 1; j++)
		line[FLOOD_PREFIX + j] = alphabet[(7 * i + j) % (sizeof(alphabet) - 1)];
	line[FLOOD_LINELEN - 1] = '\n';
}

uint32_t guest_main(const uint8_t *bp)
{
	char line[FLOOD_LINELEN];

	(void)bp;
	for (unsigned i = 0; i < FLOOD_LINES; i++) {
		make_line(line, i);
		if (i % 4 == 0)
			print_n(line, sizeof(line));
		else
			outsb(PORT_SERIAL, line, sizeof(line));
	}
	print("flood: done ");
	put_dec(FLOOD_LINES);
	print(" lines ");
	put_dec(FLOOD_LINES * FLOOD_LINELEN);
	puts(" bytes");
	return 0;
}
