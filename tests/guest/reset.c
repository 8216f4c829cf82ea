/*
 * reset: prints "reset: writing 0xfe to port 0x64" and asks the i8042 to
 * reset the CPU, as Linux does with reboot=k; hull stops with the reason
 * "reset". Should the VM go on, it prints "reset: still alive" and exits
 * with 1.
 */
#include "lib.h"

uint32_t guest_main(const uint8_t *bp)
{
	(void)bp;
	puts("reset: writing 0xfe to port 0x64");
	outb(PORT_I8042_CMD, I8042_CMD_RESET);
	puts("reset: still alive");
	return 1;
}
