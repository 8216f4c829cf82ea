package virtio_test

import (
	"sync"
	"sync/atomic"

	"github.com/hullvm/hull/virtio"
)

// loopDev is a test device: every chain's readable bytes are copied into
// its writable buffers (as far as they go) and remembered.
type loopDev struct {
	features    uint64
	sizes       []uint16
	config      []byte
	activateErr error

	ctx    *virtio.ActivationContext
	chains []virtio.Chain

	activations, resets, kicks atomic.Int32
	mu                         sync.Mutex
	got                        [][]byte
	configWrites               [][]byte
}

func newLoopDev(sizes ...uint16) *loopDev {
	if len(sizes) == 0 {
		sizes = []uint16{16}
	}
	return &loopDev{sizes: sizes, config: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
}

func (d *loopDev) Type() virtio.DeviceType { return 0x7e57 }
func (d *loopDev) Features() uint64        { return d.features }
func (d *loopDev) QueueSizes() []uint16    { return d.sizes }

func (d *loopDev) ReadConfig(off uint64, p []byte) {
	for i := range p {
		p[i] = 0
		if o := off + uint64(i); o < uint64(len(d.config)) {
			p[i] = d.config[o]
		}
	}
}

func (d *loopDev) WriteConfig(off uint64, p []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.configWrites = append(d.configWrites, append([]byte{byte(off)}, p...))
}

func (d *loopDev) Activate(ctx *virtio.ActivationContext) error {
	if d.activateErr != nil {
		return d.activateErr
	}
	d.activations.Add(1)
	d.ctx = ctx
	d.chains = make([]virtio.Chain, len(ctx.Queues))
	return nil
}

func (d *loopDev) Reset() {
	d.resets.Add(1)
	d.ctx = nil
}

func (d *loopDev) Kick(q int) error {
	d.kicks.Add(1)
	ctx := d.ctx
	return ctx.Queues[q].Process(&d.chains[q], func(c *virtio.Chain) (uint32, error) {
		in := make([]byte, c.ReadLen)
		if err := virtio.ReadFrom(ctx.Mem, c.Readable(), 0, in); err != nil {
			return 0, err
		}
		n := min(uint64(len(in)), c.WriteLen)
		if err := virtio.WriteTo(ctx.Mem, c.Writable(), 0, in[:n]); err != nil {
			return 0, err
		}
		d.mu.Lock()
		d.got = append(d.got, in)
		d.mu.Unlock()
		return uint32(n), nil
	})
}

func (d *loopDev) received() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]byte(nil), d.got...)
}

// ctxPaused reports whether the device was activated paused.
func (d *loopDev) ctxPaused() bool { return d.ctx != nil && d.ctx.Paused }
