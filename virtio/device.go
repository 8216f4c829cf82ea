package virtio

import (
	"sync/atomic"

	"github.com/hullvm/hull/guestmem"
)

// Interrupt raises the device's interrupt line: an irqfd in the VMM, a
// counter in tests. It has the method set of devices.Trigger, so the VMM's
// interrupt line satisfies both without either package importing the other.
type Interrupt interface {
	Trigger() error
}

// Device is the logic of one virtio device, separate from its transport
// (Cloud Hypervisor's VirtioDevice/ActivationContext split). The transport
// calls these methods; a device never sees a register.
//
// Until Activate, and again after Reset returns, a device must not touch
// guest memory or its queues.
type Device interface {
	// Type is the virtio device ID (VIRTIO_ID_BLOCK, ...).
	Type() DeviceType
	// Features returns the device-specific feature bits it offers. The
	// transport adds VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX and
	// VIRTIO_RING_F_INDIRECT_DESC.
	Features() uint64
	// QueueSizes returns the maximum size of each queue; its length is the
	// number of queues. Sizes are powers of two up to MaxQueueSize.
	QueueSizes() []uint16
	// ReadConfig fills p from the configuration space at off. Any off and
	// len(p) may come from the guest; bytes past the end read as zero.
	ReadConfig(off uint64, p []byte)
	// WriteConfig handles a guest write to the configuration space.
	WriteConfig(off uint64, p []byte)
	// Activate starts the device after the driver set DRIVER_OK. An error
	// means the driver's setup is unusable (a required queue is missing):
	// the transport sets DEVICE_NEEDS_RESET.
	Activate(ctx *ActivationContext) error
	// Kick processes queue q after the driver notified it. It runs on that
	// queue's worker goroutine: never concurrently for the same q, maybe
	// concurrently for different queues. Guest mistakes are handled inside
	// (error status, failed chain, NeedsReset); a returned error is a
	// host-side failure that stops the VM.
	Kick(q int) error
	// Reset stops the device: the transport has stopped its workers and the
	// device drops ctx and everything it got from it.
	Reset()
}

// Pauser is implemented by devices that touch guest memory or their queues
// outside Kick: a receive loop, a muxer, replies that complete on other
// goroutines. The transport calls Pause after stopping its queue workers
// (MMIO.Pause) and Resume before starting them again (MMIO.Resume); both
// only while the device is activated, and never concurrently with
// Activate, Reset or each other.
type Pauser interface {
	// Pause returns once no goroutine of the device touches guest memory,
	// its queues or its interrupt, and every chain the device popped has
	// been returned to the driver: the queues' device-side indices then
	// match guest memory (MMIO.SaveState checks it). Chains a device held
	// waiting for data (receive buffers) are returned empty, as a Linux
	// driver tolerates: it drops the empty buffer and posts a new one.
	// Work that arrives meanwhile (host input, notifications) waits. An
	// error means the device could not quiesce (requests still in flight
	// after a timeout); SaveState then refuses.
	Pause() error
	// Resume undoes Pause: the device's own work starts again. It also
	// starts a device that Activate got paused (ActivationContext.Paused),
	// with no Pause before.
	Resume()
}

// Stateful is implemented by devices with state of their own to keep in
// a snapshot, beyond what the transport saves (registers, queues). The
// state is opaque to the transport; a device versions and validates it
// itself: RestoreState gets bytes from a file and must refuse corrupt or
// foreign ones with an error, never a panic.
type Stateful interface {
	// SaveState returns the device's state. The transport is paused (and
	// a Pauser device with it). An error refuses the snapshot (a 9p share
	// in use).
	SaveState() ([]byte, error)
	// RestoreState applies a saved state to a new device, before its
	// transport activates it (when the driver had). The device may have a
	// new backend (disk file, TAP, socket path): RestoreState refuses one
	// the guest cannot go on with (a disk of another size).
	RestoreState(state []byte) error
}

// ActivationContext is what a device receives at activation: guest memory,
// the negotiated features, its queues and a way to raise interrupts. It is
// valid until the device's Reset.
type ActivationContext struct {
	Mem      *guestmem.Memory
	Features uint64   // negotiated: offered ∩ accepted by the driver
	Queues   []*Queue // by queue index; nil where the driver did not enable the queue
	// Paused: the transport is paused (a Pause before DRIVER_OK, or a
	// restore: RestoreState activates the device paused). A Pauser device
	// then sets up but starts no work of its own (a receive loop, the
	// muxer's queue work) until its Resume.
	Paused bool

	t *MMIO
}

// Has reports whether feature bit n was negotiated.
func (c *ActivationContext) Has(n uint) bool { return c.Features&Bit(n) != 0 }

// NeedsReset marks the device broken by the guest (§2.1.2: DEVICE_NEEDS_RESET)
// and raises a configuration-change interrupt; the device should stop
// processing until the driver resets it.
func (c *ActivationContext) NeedsReset() error { return c.t.setNeedsReset() }

// ConfigChanged bumps the configuration generation and raises a
// configuration-change interrupt (§4.2.2: ConfigGeneration, InterruptStatus bit 1).
func (c *ActivationContext) ConfigChanged() error {
	c.t.configGen.Add(1)
	return c.t.raise(VIRTIO_MMIO_INT_CONFIG)
}

// Counters are the transport's guest-error counters (STYLE 2.14: counted,
// never logged per event). All fields are updated atomically.
type Counters struct {
	BadRegister atomic.Uint64 // unknown offset, wrong width, write in the wrong state
	BadChain    atomic.Uint64 // malformed descriptor chains returned with length 0
	NeedsReset  atomic.Uint64 // times DEVICE_NEEDS_RESET was set
	Interrupts  atomic.Uint64 // interrupts raised
	Kicks       atomic.Uint64 // worker wake-ups
	// DirectNotify counts QueueNotify writes that reached the transport:
	// with ioeventfds registered, KVM consumes the guest's kicks and this
	// stays 0.
	DirectNotify atomic.Uint64
}
