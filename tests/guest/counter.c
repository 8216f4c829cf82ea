/*
 * counter: prints "count 1", "count 2", ... up to n (command line word
 * "n=<decimal>", default 2000), one line per step with a busy delay of
 * "delay=<decimal>" loop iterations (default 20000) between lines, then
 * "counter: done" and exits with 0. Every step also writes a 64 KiB table in
 * guest memory and checks the previous step's contents first; a mismatch
 * prints "counter: memory lost at <step>" and exits with 3. The snapshot
 * tests pause and snapshot it mid-way and restore it, in the same or a new
 * process: the console output before and after must join into the one
 * sequence, and the memory checks must pass.
 */
#include "lib.h"

#define TABLE_WORDS (64 * 1024 / 8)

static uint64_t table[TABLE_WORDS];

static uint64_t mix(uint64_t step, uint64_t i)
{
	return (step * 0x9e3779b97f4a7c15ull) ^ (i * 0xc2b2ae3d27d4eb4full);
}

uint32_t guest_main(const uint8_t *bp)
{
	const char *cl = boot_cmdline(bp);
	uint32_t n = 2000, delay = 20000;

	cmdline_u32(cl, "n", &n);
	cmdline_u32(cl, "delay", &delay);
	for (uint64_t step = 1; step <= n; step++) {
		for (uint64_t i = 0; i < TABLE_WORDS; i += 61) {
			if (step > 1 && table[i] != mix(step - 1, i)) {
				print("counter: memory lost at ");
				put_dec(step);
				putc('\n');
				return 3;
			}
			table[i] = mix(step, i);
		}
		print("count ");
		put_dec(step);
		putc('\n');
		for (volatile uint32_t d = 0; d < delay; d++)
			__asm__ volatile("pause");
	}
	puts("counter: done");
	return 0;
}
