// Package exitport is the port through which a test guest ends the VM with
// an exit code.
//
//	ep := exitport.New(func(code uint32) { vm.stop(exitCode(code)) })
//	if err := pio.Insert(0xf4, exitport.Size, ep, "exit port"); err != nil { ... }
//
// In the guest, `outl %eax, $0xf4` (or outb/outw) exits with the value
// written, zero-extended and little-endian. Only writes at offset 0 of width
// 1, 2 or 4 count; other writes are ignored and counted. Reads return zeros.
// The exit callback runs on every such write, without any lock held; the VMM
// acts on the first. The VMM puts the port on the bus only for test guests.
// The port has no state to keep in a snapshot.
package exitport
