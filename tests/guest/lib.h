/*
 * lib.h: the little runtime every hull test guest links with.
 *
 * A test guest is loaded by hull exactly like a Linux vmlinux (64-bit direct
 * boot): it starts at _start (start.S) in long mode with paging on, the first
 * 4 GiB identity-mapped, interrupts off and RSI = the boot_params zero page.
 * start.S zeroes .bss, switches to the guest's own stack and calls
 * guest_main(bp); whatever guest_main returns becomes the exit-port code.
 *
 * Devices used (DESIGN.md §3): the 16550 UART at 0x3f8 (output only: THR is
 * written directly, hull's UART never holds a byte back), the test exit port
 * at 0xf4 (a 32-bit write stops the VM with that code), the i8042 command
 * port 0x64 (0xfe = reset) and port 0xf5, where nothing listens.
 *
 * Built with -DHULL_HOST the port accessors become calls into a host harness
 * (host.c), so the guests' logic runs as an ordinary process in the unit tier.
 */
#ifndef HULL_GUEST_LIB_H
#define HULL_GUEST_LIB_H

#include <stddef.h>
#include <stdint.h>

/* I/O ports. */
#define PORT_SERIAL       0x3f8 /* 16550 THR (write) */
#define PORT_EXIT         0xf4  /* test exit device: outl(code) stops the VM */
#define PORT_UNHANDLED    0xf5  /* no device: hull ignores writes */
#define PORT_I8042_CMD    0x64  /* i8042 command/status */
#define I8042_CMD_RESET   0xfe  /* pulse the CPU reset line */

/* boot_params ("zero page") offsets, Linux arch/x86/include/uapi/asm/bootparam.h. */
#define BP_E820_ENTRIES   0x1e8 /* u8 */
#define BP_CMD_LINE_PTR   0x228 /* u32, physical address of the command line */
#define BP_E820_TABLE     0x2d0 /* struct boot_e820_entry[E820_MAX_ENTRIES] */
#define E820_MAX_ENTRIES  128   /* E820_MAX_ENTRIES_ZEROPAGE */

/* struct boot_e820_entry: 20 bytes, packed. */
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct e820_entry) == 20, "boot_e820_entry is 20 bytes");

/* Port I/O. */
#ifdef HULL_HOST
void outb(uint16_t port, uint8_t v);
void outl(uint16_t port, uint32_t v);
void outsb(uint16_t port, const void *p, size_t n);
uint8_t inb(uint16_t port);
#else
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

/* outsb writes n bytes with one `rep outsb`: a string I/O exit. */
static inline void outsb(uint16_t port, const void *p, size_t n)
{
	__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
#endif

#ifdef HULL_HOST
/* On the host these names belong to libc; the harness links ours as hg_*. */
#define putc hg_putc
#define puts hg_puts
#define exit hg_exit
#endif

/* Console output (serial). */
void putc(char c);
void puts(const char *s);           /* adds a newline, as libc's puts */
void print(const char *s);          /* no newline added */
void print_n(const char *s, size_t n);
void put_hex(uint64_t v);           /* "0x" and lower-case digits, no padding */
void put_dec(uint64_t v);

/* exit writes code to the exit port and never returns; without an exit
 * device it resets the VM through the i8042 instead. */
void exit(uint32_t code) __attribute__((noreturn));

/* Memory and strings (gcc may emit calls to the mem* ones itself). */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Formatting into a buffer; each returns the number of bytes written. */
size_t fmt_hex(char *buf, uint64_t v);  /* needs 18 bytes */
size_t fmt_dec(char *buf, uint64_t v);  /* needs 20 bytes */

/* Boot parameters. */
const char *boot_cmdline(const uint8_t *bp); /* "" when cmd_line_ptr is 0 */
unsigned boot_e820_count(const uint8_t *bp);
struct e820_entry boot_e820_entry(const uint8_t *bp, unsigned i);

/*
 * cmdline_u32 looks for the word "<key>=<decimal>" in cmdline and stores the
 * number in *out. It returns 1 when found and valid (fits 32 bits), else 0.
 */
int cmdline_u32(const char *cmdline, const char *key, uint32_t *out);

/* Each guest defines this; its result is the exit-port code. */
uint32_t guest_main(const uint8_t *bp);

#endif /* HULL_GUEST_LIB_H */
