// Package virtio is hull's virtio 1.x core: the virtio-mmio transport
// (version 2 registers, §4.2.2), split virtqueues (§2.7) and the interface
// between the transport and device logic. Devices live in sub-packages
// (blk, rng, ...); virtiotest plays the guest driver in tests.
//
//	disk, err := blk.Open("disk.img", blk.Options{})
//	if err != nil { ... }
//	t, err := virtio.NewMMIO(disk, virtio.MMIOConfig{
//		Mem:       mem,     // *guestmem.Memory
//		Interrupt: irqLine, // anything with Trigger() error: an irqfd in the VMM
//		OnError:   stopVM,  // host-side failures on a queue worker
//		Name:      "blk0",
//	})
//	if err != nil { ... }
//	defer t.Close()
//	bus.Insert(0xc0001000, virtio.MMIOSize, t, "virtio-blk0") // t is a devices.Device
//	for q, fd := range t.NotifyFDs() {
//		// ioeventfd: a 4-byte write of q at 0xc0001000+virtio.QueueNotifyOffset
//		// signals fd inside KVM, without an exit to the VMM
//	}
//
// # Transport
//
// MMIO answers every register of the spec's table by name (regMagicValue =
// 0x000 ... regConfigGeneration = 0x0fc, configuration space from 0x100).
// It offers VIRTIO_F_VERSION_1 (required: FEATURES_OK stays clear without
// it, or when the driver accepts a bit that was not offered),
// VIRTIO_RING_F_EVENT_IDX and VIRTIO_RING_F_INDIRECT_DESC, plus the device's
// own bits. The status register follows the initialisation sequence of
// §3.1.1; writing 0 resets the device: its queue workers stop, the device's
// Reset runs and every register reads its initial value. Queue registers
// are writable only between FEATURES_OK and DRIVER_OK. At DRIVER_OK the
// enabled queues are validated (size a power of two up to the maximum,
// alignment, rings in guest RAM) and the device is activated with an
// ActivationContext (guest memory, negotiated features, queues); an unusable
// setup sets DEVICE_NEEDS_RESET with a configuration interrupt instead.
// InterruptStatus is an atomic set by the workers and cleared by
// InterruptACK; ConfigGeneration counts configuration changes.
//
// # Queues and workers
//
// Each queue has an eventfd for the VMM to register as an ioeventfd, and a
// worker goroutine that sleeps on it and calls Device.Kick. A QueueNotify
// write that reaches the transport (no ioeventfd) signals the same eventfd.
// Queue.Pop walks a descriptor chain (indirect tables included) at most
// queue-size descriptors long, with every address and length checked
// through guestmem and the total capped at MaxChainBytes; a malformed chain
// is returned to the driver with length 0 and counted, so a device only
// ever sees well-formed chains. A corrupt ring (an impossible avail.idx or
// head index) sets DEVICE_NEEDS_RESET. avail.idx is read with an acquire
// load and used.idx written with a release store; EVENT_IDX suppresses
// interrupts and kicks in both directions (Signal, EnableNotify).
//
// # Pause, snapshot and restore
//
// MMIO.Pause stops the queue workers (a Kick in progress finishes: a
// request in flight completes and is published) and pauses a device that
// works outside Kick (Pauser: virtio-net's receive loop, the vsock muxer,
// 9p replies in flight), which also hands back, empty, chains it held
// waiting for data; then nothing touches guest memory, the used rings or
// the interrupt until Resume, and notifications wait in the eventfds.
// SaveState (paused only) returns an MMIOState: registers, negotiated
// features, each queue's addresses and device-side indices, interrupt
// status, configuration generation, and a Stateful device's own bytes. It
// refuses while a device holds chains (the indices would not match guest
// memory). RestoreState gives that state to a new transport whose device
// is of the same type with the same queues and offers every accepted
// feature (its backend may be new); corrupt or foreign state is refused
// with ErrBadState. A device the driver had started is activated paused
// with its queues where they were; Resume starts it, kicks every queue once
// and raises one used-buffer interrupt. The notify eventfds and the
// interrupt are the new transport's, wired as for a boot.
//
// # Errors
//
// Guest-caused problems are counted (Counters) and answered per the spec:
// ignored register writes, chains failed, NEEDS_RESET. Host-side failures
// (an interrupt that cannot be raised, a backend error a device cannot
// report to the guest) go to MMIOConfig.OnError, and the VMM stops the VM.
//
// This package imports guestmem, the standard library and x/sys/unix only.
package virtio
