// Package rng is virtio-rng (virtio 1.x §5.4): the device fills every
// buffer the driver posts with bytes from crypto/rand.
//
//	dev := rng.New()
//	t, err := virtio.NewMMIO(dev, virtio.MMIOConfig{Mem: mem, Interrupt: irq, Name: "rng"})
//	// put t on the MMIO bus; the guest sees /dev/hwrng (virtio_rng)
//
// A request is one chain of device-writable buffers; readable buffers are
// ignored. At most MaxRequest bytes are filled per chain, and the used
// length says how many.
package rng

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"

	"github.com/hullvm/hull/virtio"
)

// Limits.
const (
	QueueSize  = 256
	MaxRequest = 64 << 10 // bytes filled per chain at most
)

// Device is a virtio entropy device.
type Device struct {
	ctx   *virtio.ActivationContext
	chain virtio.Chain
	dst   [][]byte

	// Bytes counts the random bytes handed to the guest.
	Bytes atomic.Uint64
}

var _ virtio.Device = (*Device)(nil)

// New returns an entropy device.
func New() *Device { return &Device{} }

// Type implements virtio.Device.
func (d *Device) Type() virtio.DeviceType { return virtio.VIRTIO_ID_RNG }

// Features implements virtio.Device: virtio-rng has no feature bits.
func (d *Device) Features() uint64 { return 0 }

// QueueSizes implements virtio.Device: one request queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// ReadConfig implements virtio.Device: there is no configuration space.
func (d *Device) ReadConfig(off uint64, p []byte) { clear(p) }

// WriteConfig implements virtio.Device.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device.
func (d *Device) Activate(ctx *virtio.ActivationContext) error {
	if ctx.Queues[0] == nil {
		return fmt.Errorf("virtio-rng: the driver did not enable the request queue")
	}
	d.ctx = ctx
	return nil
}

// Reset implements virtio.Device.
func (d *Device) Reset() { d.ctx = nil }

// Kick implements virtio.Device.
func (d *Device) Kick(q int) error {
	return d.ctx.Queues[0].Process(&d.chain, d.fill)
}

func (d *Device) fill(c *virtio.Chain) (uint32, error) {
	n := min(c.WriteLen, MaxRequest)
	var err error
	d.dst, err = virtio.Slices(d.ctx.Mem, c.Writable(), 0, n, d.dst[:0])
	if err != nil {
		return 0, nil // cannot happen for a popped chain; report nothing written
	}
	for _, s := range d.dst {
		// crypto/rand.Read never fails on Linux (getrandom); if it did,
		// handing the guest predictable bytes would be worse than stopping.
		if _, err := rand.Read(s); err != nil {
			return 0, fmt.Errorf("virtio-rng: crypto/rand: %w", err)
		}
	}
	d.Bytes.Add(n)
	return uint32(n), nil
}
