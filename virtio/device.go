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

// ActivationContext is what a device receives at activation: guest memory,
// the negotiated features, its queues and a way to raise interrupts. It is
// valid until the device's Reset.
type ActivationContext struct {
	Mem      *guestmem.Memory
	Features uint64   // negotiated: offered ∩ accepted by the driver
	Queues   []*Queue // by queue index; nil where the driver did not enable the queue

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
