// Package boottimer is Firecracker's boot timer device: the guest's init
// marks "boot complete" by writing the byte 123 at the start of the page.
//
//	bt := boottimer.New(func(t time.Time) { timeline.markAt("boot timer", t) })
//	if err := mmio.Insert(0xc0000000, boottimer.Size, bt, "boot timer"); err != nil { ... }
//
// In the guest (as Firecracker's harnesses do, so their init wrappers work
// unchanged): `devmem 0xc0000000 8 123`. Only a 1-byte write of MagicValue
// at offset 0 counts; mark is called with the time of each such write,
// without any lock held, and the VMM keeps the first. Other writes are
// ignored and counted; reads return zeros. The device has no state to keep
// in a snapshot.
package boottimer
