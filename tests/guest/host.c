/*
 * host.c: runs a test guest's guest_main as an ordinary Linux process, for the
 * unit tier (tests/guest/guesttest). Built with -DHULL_HOST, lib.h's port
 * accessors land here:
 *
 *	0x3f8 (serial THR) writes -> stdout
 *	0xf4 (exit port) outl     -> "host: exit <code>" on stderr, exit status code & 0xff
 *	0x64 (i8042) 0xfe         -> "host: i8042 reset" on stderr, exit status 125
 *	0xf5 writes               -> counted, "host: port 0xf5 writes: <n>" on stderr at exit
 *	anything else             -> "host: unexpected ..." on stderr, exit status 126
 *
 * Usage: host-<guest> [CMDLINE [ADDR:SIZE:TYPE ...]] (ADDR, SIZE in hex)
 * builds a zero page whose command line is CMDLINE (placed below 4 GiB, as
 * cmd_line_ptr is 32 bits) and whose e820 table holds the given entries.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

uint32_t guest_main(const uint8_t *bp);

static unsigned long long unhandled_writes;

static void finish(const char *what, unsigned long long code, int status)
{
	fflush(stdout);
	if (unhandled_writes)
		fprintf(stderr, "host: port 0xf5 writes: %llu\n", unhandled_writes);
	fprintf(stderr, "host: %s %llu\n", what, code);
	_exit(status);
}

void outb(uint16_t port, uint8_t v)
{
	switch (port) {
	case 0x3f8:
		putchar(v);
		return;
	case 0xf5:
		unhandled_writes++;
		return;
	case 0x64:
		if (v == 0xfe) {
			fflush(stdout);
			fprintf(stderr, "host: i8042 reset\n");
			_exit(125);
		}
		return;
	}
	fflush(stdout);
	fprintf(stderr, "host: unexpected outb %#x to port %#x\n", v, port);
	_exit(126);
}

void outsb(uint16_t port, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		outb(port, b[i]);
}

void outl(uint16_t port, uint32_t v)
{
	if (port == 0xf4)
		finish("exit", v, (int)(v & 0xff));
	fflush(stdout);
	fprintf(stderr, "host: unexpected outl %#x to port %#x\n", v, port);
	_exit(126);
}

uint8_t inb(uint16_t port)
{
	if (port == 0x3fd)
		return 0x60; /* LSR: THR and transmitter empty */
	return 0xff;
}

void hg_exit(uint32_t code)
{
	outl(0xf4, code);
	_exit(126); /* unreachable */
}

int main(int argc, char **argv)
{
	static uint8_t bp[4096];
	const char *cmdline = argc > 1 ? argv[1] : "";
	size_t len = strlen(cmdline) + 1;

	if (len > 2048) {
		fprintf(stderr, "host: command line longer than 2047 bytes\n");
		return 127;
	}
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED || (uintptr_t)low > 0xffffffffu) {
		perror("host: mmap below 4 GiB");
		return 127;
	}
	memcpy(low, cmdline, len);
	uint32_t ptr = (uint32_t)(uintptr_t)low;
	memcpy(bp + 0x228, &ptr, 4);

	int n = 0;
	for (int i = 2; i < argc; i++, n++) {
		unsigned long long addr, size;
		unsigned type;
		if (n >= 128 || sscanf(argv[i], "%llx:%llx:%u", &addr, &size, &type) != 3) {
			fprintf(stderr, "host: bad e820 entry %s\n", argv[i]);
			return 127;
		}
		uint8_t *e = bp + 0x2d0 + 20 * n;
		memcpy(e, &addr, 8);
		memcpy(e + 8, &size, 8);
		memcpy(e + 16, &type, 4);
	}
	bp[0x1e8] = (uint8_t)n;

	hg_exit(guest_main(bp));
}
