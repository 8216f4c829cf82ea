// Package devices is the bus that dispatches guest port-I/O and MMIO
// accesses to emulated devices, and the two small interfaces devices are
// built on.
//
//	pio := devices.NewBus("pio")
//	serial := uart.New(irq4, os.Stdout) // irq4 is any devices.Trigger
//	if err := pio.Insert(0x3f8, 8, serial, "serial"); err != nil {
//		return err // *OverlapError (errors.Is(err, devices.ErrOverlap)) or a bad range
//	}
//	// in the vCPU exit handler, for KVM_EXIT_IO:
//	if !pio.Write(uint64(port), data) {
//		unhandled.Add(1) // no device there
//	}
//	if !pio.Read(uint64(port), data) {
//		fill(data, 0xff) // what an unclaimed ISA cycle reads
//	}
//
// A device sees only offsets inside its own range, never bus addresses, and
// raises its interrupt through a Trigger; where it lives and which IRQ it
// uses are decided by the VMM alone.
//
// Everything a device receives comes from the guest and is hostile: any
// offset, any data length (0, 3, 4096 bytes). Devices never panic on it;
// they ignore what they do not implement and count it, without logging on
// the hot path.
//
// Sub-packages: uart (16550A), i8042 (reset line), exitport (test-guest exit
// codes), boottimer (Firecracker's boot-complete marker) and devicestest
// (helpers for tests). They import only this package and the standard
// library.
package devices
