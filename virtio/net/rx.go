package net

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// rxBufLen is the receive bounce buffer: the largest frame the device
// passes, its header, and one byte to tell a longer frame (which the
// backend cut) from one that fits exactly.
const rxBufLen = HdrLen + MaxFrame + 1

// receiver is the receive loop: one goroutine from Activate to Reset that
// owns the receive queue. It is woken by the backend turning readable
// (edge-triggered) and by the driver's rx kicks (Kick signals wakefd), and
// it sleeps in Go's netpoller on the device's epoll set, holding no
// thread while idle (virtio/vsock's muxer measured why: a goroutine in a
// raw epoll_wait holds its P and delays the goroutines it woke).
//
// A frame is read from the backend into buf, then copied into the
// driver's buffers. The copy lets the device know the frame's length
// before it takes buffers (a TAP read cuts a frame that does not fit, and
// a popped chain cannot be given back), and costs little next to the
// read itself; QEMU and Firecracker copy too. When the driver has not
// posted enough buffers the frame waits in buf (counted once in
// RxWaits), and the frames behind it wait in the backend (a TAP's queue,
// 1000 frames by default, drops beyond that): nothing is dropped for
// want of buffers while the driver keeps posting them.
type receiver struct {
	d         *Device
	q         *virtio.Queue
	ctx       *virtio.ActivationContext
	mrg       bool // VIRTIO_NET_F_MRG_RXBUF: a frame may span several chains
	guestCSUM bool
	tso4      bool
	tso6      bool
	ecn       bool

	stopping atomic.Bool
	done     chan struct{} // closed when run returns; nil before the first start

	buf      []byte // the frame read from the backend, header first
	n        int    // its length; 0: no frame waits
	readable bool   // the backend may have a frame (cleared by EAGAIN)
	waiting  bool   // the frame in buf was counted in RxWaits

	// held[:nHeld] are chains popped and not yet used, in ring order;
	// heldLen is their writable bytes. The rest of held are spare Chain
	// values whose Bufs arrays are reused.
	held    []virtio.Chain
	nHeld   int
	heldLen uint64
	used    bool // a chain was returned since the last Signal

	batch []virtio.UsedElem // emit's used elements, reused (capacity: the queue size)

	events [4]unix.EpollEvent
}

func newReceiver(d *Device, ctx *virtio.ActivationContext) *receiver {
	return &receiver{
		d: d, q: ctx.Queues[rxq], ctx: ctx,
		mrg:       ctx.Has(VIRTIO_NET_F_MRG_RXBUF),
		guestCSUM: ctx.Has(VIRTIO_NET_F_GUEST_CSUM),
		tso4:      ctx.Has(VIRTIO_NET_F_GUEST_TSO4),
		tso6:      ctx.Has(VIRTIO_NET_F_GUEST_TSO6),
		ecn:       ctx.Has(VIRTIO_NET_F_GUEST_ECN),
		buf:       make([]byte, rxBufLen),
		batch:     make([]virtio.UsedElem, 0, ctx.Queues[rxq].Size()),
		readable:  true, // frames may have arrived before activation
	}
}

// start runs the loop on a goroutine of its own (Activate, Resume). What
// the receiver holds (a frame, chains) carries over from the last stop.
func (r *receiver) start() {
	r.stopping.Store(false)
	done := make(chan struct{})
	r.done = done
	go r.run(done)
}

// stop ends the loop and waits for it: afterwards it touches neither the
// queue nor guest memory. The frame and the chains it held stay with the
// receiver (start goes on with them; at a reset they are dropped with it).
func (r *receiver) stop() {
	if r.done == nil {
		return // never started (activated paused)
	}
	r.stopping.Store(true)
	if err := r.d.wake(); err != nil {
		r.d.fail(err)
	}
	<-r.done
}

// giveBack returns the chains held for a frame to the driver, empty (Linux
// counts a length error, drops the buffer and posts another), so the
// queue's indices match guest memory while the loop is stopped (Pause).
// The driver is signalled at the next start.
func (r *receiver) giveBack() {
	for i := range r.nHeld {
		r.q.PushUsed(r.held[i].Head, 0)
		r.used = true
	}
	r.nHeld, r.heldLen = 0, 0
}

// run is the receive goroutine; it closes done when it returns.
func (r *receiver) run(done chan struct{}) {
	defer close(done)
	d := r.d
	for !r.stopping.Load() {
		if err := r.fill(); err != nil {
			d.fail(err)
			return
		}
		n, err := d.poll.Wait(r.events[:])
		if err != nil {
			d.fail(fmt.Errorf("net: epoll_wait: %w", err))
			return
		}
		for _, ev := range r.events[:n] {
			switch int(ev.Fd) {
			case d.wakefd:
				if err := drainEventFD(d.wakefd); err != nil {
					d.fail(fmt.Errorf("net: reading the wake-up eventfd: %w", err))
					return
				}
			case d.be.FD():
				r.readable = true
			}
		}
	}
}

// fill moves frames from the backend into the driver's buffers until the
// backend has none or the driver's buffers run out, then signals the
// driver once. The error is host-side: the backend failed, or the
// interrupt could not be raised.
func (r *receiver) fill() error {
	for !r.stopping.Load() {
		if r.n == 0 {
			ok, err := r.read()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
		ok, err := r.deliver()
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		// Out of buffers: ask for a kick, unless the driver posted more
		// in the meantime.
		if r.q.EnableNotify() {
			continue
		}
		if !r.waiting {
			r.waiting = true
			r.d.Stats.RxWaits.Add(1)
		}
		break
	}
	if r.used {
		r.used = false
		return r.q.Signal()
	}
	return nil
}

// read takes the next frame the device can pass from the backend into
// buf; it reports false when the backend has none.
func (r *receiver) read() (bool, error) {
	st := &r.d.Stats
	for r.readable {
		n, err := r.d.be.Read(r.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			r.readable = false
			return false, nil
		case err != nil:
			return false, fmt.Errorf("net: backend read: %w", err)
		case n == 0:
			return false, fmt.Errorf("net: backend read: end of stream")
		case n >= len(r.buf):
			st.RxTooBig.Add(1)
			continue
		case n < HdrLen || !r.fixHeader():
			st.RxBadFrame.Add(1)
			continue
		}
		r.n, r.waiting = n, false
		return true, nil
	}
	return false, nil
}

// fixHeader checks the header the backend gave against what the driver
// accepted and clears what it must not see (§5.1.6.4.1): flags are zero
// without VIRTIO_NET_F_GUEST_CSUM, RSC_INFO and unknown flags are never
// set; a TSO frame the driver did not accept cannot be delivered.
func (r *receiver) fixHeader() bool {
	h := r.buf[:HdrLen]
	if !r.guestCSUM {
		h[hdrFlags] = 0
		return h[hdrGSOType] == VIRTIO_NET_HDR_GSO_NONE
	}
	h[hdrFlags] &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID
	return gsoOK(h[hdrGSOType], r.tso4, r.tso6, r.ecn)
}

// deliver puts the frame in buf into the driver's buffers, or drops it
// when it can never fit, and reports true; false means the driver has not
// posted enough buffers yet (the frame waits, and so do the chains
// already taken for it). The error is the device's own (see emit).
func (r *receiver) deliver() (bool, error) {
	need := uint64(r.n)
	if !r.mrg {
		// One chain per frame (§5.1.6.3.1: without MRG_RXBUF the driver
		// posts buffers for the largest frame it takes). A frame larger
		// than the chain is dropped; the chain stays for the next frame.
		if r.nHeld == 0 && !r.pop() {
			return false, nil
		}
		if r.held[0].WriteLen < need {
			r.drop()
			return true, nil
		}
		return true, r.emit(1)
	}
	for r.heldLen < need {
		if r.nHeld == int(r.q.Size()) {
			// Every buffer the driver can post is here and the frame is
			// still larger: it can never be delivered.
			r.drop()
			return true, nil
		}
		if !r.pop() {
			return false, nil
		}
	}
	// As few chains as hold the frame, in ring order.
	k, room := 0, uint64(0)
	for room < need {
		room += r.held[k].WriteLen
		k++
	}
	return true, r.emit(k)
}

// drop discards the frame in buf: no buffer the driver posts can hold it.
func (r *receiver) drop() {
	r.d.Stats.RxTooBig.Add(1)
	r.n = 0
}

// pop takes one more chain from the receive queue into held[nHeld];
// chains without room for the header are returned with length 0 and
// counted (Linux drops such a "short packet" and reposts its buffer). It
// reports whether it got one.
func (r *receiver) pop() bool {
	if r.nHeld == len(r.held) {
		r.held = append(r.held, virtio.Chain{})
	}
	c := &r.held[r.nHeld]
	for r.q.Pop(c) {
		if c.WriteLen < HdrLen {
			r.d.Stats.RxBadBuffer.Add(1)
			r.q.PushUsed(c.Head, 0)
			r.used = true
			continue
		}
		r.nHeld++
		r.heldLen += c.WriteLen
		return true
	}
	return false
}

// emit copies the frame in buf into the first k held chains, each filled
// before the next, sets num_buffers to k and returns the chains to the
// driver in one batch: used.idx moves once, past all k, so a driver
// polling the used ring never sees part of a frame (Linux's
// receive_mergeable drops the frame when a buffer num_buffers promised is
// not there yet, and takes the rest for new frames). The error, a batch
// larger than the queue, cannot happen: k <= nHeld <= the queue size.
func (r *receiver) emit(k int) error {
	binary.LittleEndian.PutUint16(r.buf[hdrNumBuffers:], uint16(k))
	frame := r.buf[:r.n]
	mem := r.ctx.Mem
	batch := r.batch[:0]
	for i := range k {
		c := &r.held[i]
		part := frame[:min(uint64(len(frame)), c.WriteLen)]
		frame = frame[len(part):]
		n := uint32(len(part))
		if virtio.WriteTo(mem, c.Writable(), 0, part) != nil {
			n = 0 // cannot happen: the chain was checked at Pop
		}
		batch = append(batch, virtio.UsedElem{Head: c.Head, Len: n})
		r.heldLen -= c.WriteLen
	}
	r.batch = batch
	if err := r.q.PushUsedBatch(batch); err != nil {
		return fmt.Errorf("net: returning a received frame: %w", err)
	}
	r.used = true
	r.d.Stats.RxFrames.Add(1)
	r.d.Stats.RxBytes.Add(uint64(r.n - HdrLen))
	r.n = 0
	// Rotate the used chains to the spare end, keeping their Bufs arrays.
	reverse(r.held[:k])
	reverse(r.held[k:r.nHeld])
	reverse(r.held[:r.nHeld])
	r.nHeld -= k
	return nil
}

func reverse(s []virtio.Chain) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// drainEventFD resets a non-blocking eventfd.
func drainEventFD(fd int) error {
	var b [8]byte
	for {
		_, err := unix.Read(fd, b[:])
		switch err {
		case unix.EINTR:
			continue
		case nil, unix.EAGAIN:
			return nil
		}
		return err
	}
}
