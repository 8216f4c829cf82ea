/* lib.c: console, exit, memory and boot_params helpers for test guests (see lib.h). */
#include "lib.h"

void putc(char c)
{
	outb(PORT_SERIAL, (uint8_t)c);
}

void print_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		putc(s[i]);
}

void print(const char *s)
{
	while (*s)
		putc(*s++);
}

void puts(const char *s)
{
	print(s);
	putc('\n');
}

size_t fmt_hex(char *buf, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, out = 0;
	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v != 0);
	buf[out++] = '0';
	buf[out++] = 'x';
	while (n > 0)
		buf[out++] = tmp[--n];
	return out;
}

size_t fmt_dec(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, out = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		buf[out++] = tmp[--n];
	return out;
}

void put_hex(uint64_t v)
{
	char buf[18];
	print_n(buf, fmt_hex(buf, v));
}

void put_dec(uint64_t v)
{
	char buf[20];
	print_n(buf, fmt_dec(buf, v));
}

#ifndef HULL_HOST
void exit(uint32_t code)
{
	outl(PORT_EXIT, code);
	/* Without an exit device (hull vm boot without --test-exit-port) the
	 * write is ignored: reset through the i8042 so that the VM still stops
	 * (reason "reset", the code is lost), and park the CPU should even that
	 * be ignored. */
	outb(PORT_I8042_CMD, I8042_CMD_RESET);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}
#endif /* !HULL_HOST */

/* Unaligned little-endian loads: the zero page's fields are not all aligned. */
static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load64(const uint8_t *p)
{
	return (uint64_t)load32(p) | (uint64_t)load32(p + 4) << 32;
}

const char *boot_cmdline(const uint8_t *bp)
{
	uint32_t ptr = load32(bp + BP_CMD_LINE_PTR);
	if (ptr == 0)
		return "";
	/* The first 4 GiB are identity-mapped: a physical address is a pointer. */
	return (const char *)(uintptr_t)ptr;
}

unsigned boot_e820_count(const uint8_t *bp)
{
	return bp[BP_E820_ENTRIES];
}

struct e820_entry boot_e820_entry(const uint8_t *bp, unsigned i)
{
	const uint8_t *p = bp + BP_E820_TABLE + (size_t)i * sizeof(struct e820_entry);
	struct e820_entry e;
	e.addr = load64(p);
	e.size = load64(p + 8);
	e.type = load32(p + 16);
	return e;
}

/* has_prefix reports whether s starts with prefix; it stops at s's NUL. */
static int has_prefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		if (*s != *prefix)
			return 0;
	}
	return 1;
}

int cmdline_u32(const char *s, const char *key, uint32_t *out)
{
	size_t klen = strlen(key);
	for (size_t i = 0; s[i]; i++) {
		if (i > 0 && s[i - 1] != ' ')
			continue; /* only at the start of a word */
		if (!has_prefix(s + i, key) || s[i + klen] != '=')
			continue;
		const char *p = s + i + klen + 1;
		uint64_t v = 0;
		size_t digits = 0;
		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > 0xffffffffu)
				return 0;
		}
		if (digits == 0 || (*p != '\0' && *p != ' '))
			return 0;
		*out = (uint32_t)v;
		return 1;
	}
	return 0;
}
