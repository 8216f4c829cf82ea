// Package i8042 emulates the little of a PS/2 (8042) keyboard controller a
// microVM needs: the reset line, and enough of the controller's command set
// for Linux's i8042 driver to probe it quickly and find no keyboard or mouse
// behind it.
//
//	kbd := i8042.New(func() { vm.stop("guest reset through the i8042 controller") })
//	if err := pio.Insert(0x60, i8042.Size, kbd, "i8042"); err != nil { ... }
//
// Offset 0 is the data port (0x60), offset 4 the command (write) and status
// (read) port (0x64). The guest resets the machine by pulsing the reset line
// — command 0xFE, what Linux's reboot=k does — or by writing the output port
// (command 0xD1) with bit 0 clear; both call the reset callback, which runs
// without the device's lock and may stop the VM. The callback may be called
// more than once; the VMM acts on the first.
//
// Commands answered: 0x20 read / 0x60 write the command byte, 0xAA
// controller self-test (0x55), 0xAB keyboard interface test (0x00), 0xAD/0xAE
// and 0xA7/0xA8 keyboard and aux port disable/enable, 0xD0/0xD1 read/write
// the output port, 0xF0-0xFF pulse output lines. Other commands, bytes sent
// to the keyboard itself, other offsets and accesses wider than a byte are
// ignored (reads see 0xff) and counted; nothing is logged. No keyboard or
// mouse data is ever produced, so no interrupt is either.
//
// State and SetState save and restore the controller's registers for a
// snapshot.
package i8042
