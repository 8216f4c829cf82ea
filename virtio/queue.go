package virtio

import (
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// QueueConfig is a split virtqueue's setup as the driver wrote it to the
// transport registers (§4.2.3.2).
type QueueConfig struct {
	Size  uint16       // number of entries, a power of two
	Desc  guestmem.GPA // descriptor table, 16-byte aligned
	Avail guestmem.GPA // available ("driver") ring, 2-byte aligned
	Used  guestmem.GPA // used ("device") ring, 4-byte aligned
}

// Validate checks the configuration against the device's maximum size and
// guest memory: every part of the rings lies in guest RAM, properly aligned.
func (c QueueConfig) Validate(mem *guestmem.Memory, max uint16) error {
	n := uint64(c.Size)
	switch {
	case c.Size == 0:
		return fmt.Errorf("%w: size 0", ErrBadQueue)
	case c.Size > max:
		return fmt.Errorf("%w: size %d above the maximum %d", ErrBadQueue, c.Size, max)
	case c.Size&(c.Size-1) != 0:
		return fmt.Errorf("%w: size %d is not a power of two", ErrBadQueue, c.Size)
	case c.Desc%descAlign != 0 || c.Avail%availAlign != 0 || c.Used%usedAlign != 0:
		return fmt.Errorf("%w: misaligned rings (desc %#x, avail %#x, used %#x)",
			ErrBadQueue, uint64(c.Desc), uint64(c.Avail), uint64(c.Used))
	case !mem.Contains(c.Desc, descSize*n):
		return fmt.Errorf("%w: descriptor table at %#x outside guest RAM", ErrBadQueue, uint64(c.Desc))
	// The rings' trailing event words (used_event, avail_event) are
	// accessed as aligned 4-byte atomics, which may cover up to 2 bytes
	// past the ring: require those to be RAM too.
	case !mem.Contains(c.Avail, ringHeader+2*n+4):
		return fmt.Errorf("%w: available ring at %#x outside guest RAM", ErrBadQueue, uint64(c.Avail))
	case !mem.Contains(c.Used, ringHeader+usedElemSize*n+4):
		return fmt.Errorf("%w: used ring at %#x outside guest RAM", ErrBadQueue, uint64(c.Used))
	}
	return nil
}

// Queue is the device side of one split virtqueue (§2.7). It is used by one
// goroutine at a time (the queue's worker); the transport creates it at
// activation and forgets it at reset.
//
// Every ring access goes through guestmem and is checked. Ordering with the
// driver is explicit: avail.idx is read with an acquire load before the
// ring entries and descriptors it publishes, used.idx is written with a
// release store after the used elements (STYLE 2.11).
type Queue struct {
	mem      *guestmem.Memory
	cfg      QueueConfig
	eventIdx bool // VIRTIO_RING_F_EVENT_IDX negotiated
	indirect bool // VIRTIO_RING_F_INDIRECT_DESC negotiated

	nextAvail  uint16 // next avail ring entry to consume (last_avail_idx)
	availCache uint16 // avail.idx as last read
	nextUsed   uint16 // next used ring entry to fill; published as used.idx

	signalled      uint16 // used index at the last Signal decision
	signalledValid bool
	broken         bool // the ring is unusable; NEEDS_RESET was set

	raise    func() error // sets InterruptStatus bit 0 and triggers
	fail     func()       // marks the device DEVICE_NEEDS_RESET
	counters *Counters
}

// newQueue returns a queue for a validated configuration.
func newQueue(mem *guestmem.Memory, cfg QueueConfig, features uint64, raise func() error, fail func(), c *Counters) *Queue {
	return &Queue{
		mem:      mem,
		cfg:      cfg,
		eventIdx: features&Bit(VIRTIO_RING_F_EVENT_IDX) != 0,
		indirect: features&Bit(VIRTIO_RING_F_INDIRECT_DESC) != 0,
		raise:    raise,
		fail:     fail,
		counters: c,
	}
}

// Size returns the queue's size (number of ring entries).
func (q *Queue) Size() uint16 { return q.cfg.Size }

// Broken reports whether the queue stopped because the driver corrupted
// its rings; the device is then marked DEVICE_NEEDS_RESET.
func (q *Queue) Broken() bool { return q.broken }

func (q *Queue) usedEventAddr() guestmem.GPA {
	return q.cfg.Avail + ringHeader + 2*guestmem.GPA(q.cfg.Size)
}

func (q *Queue) availEventAddr() guestmem.GPA {
	return q.cfg.Used + ringHeader + usedElemSize*guestmem.GPA(q.cfg.Size)
}

// breakRing gives up on a queue whose rings the guest corrupted.
func (q *Queue) breakRing() {
	if !q.broken {
		q.broken = true
		q.fail()
	}
}

// pending returns how many chains the driver has made available and the
// device not consumed yet, re-reading avail.idx when the cached value is
// used up. A count above the queue size means the driver corrupted the ring.
func (q *Queue) pending() uint16 {
	if q.nextAvail == q.availCache {
		idx, err := q.mem.LoadUint16Acquire(q.cfg.Avail + availIdxOff)
		if err != nil {
			q.breakRing()
			return 0
		}
		q.availCache = idx
	}
	n := q.availCache - q.nextAvail
	if n > q.cfg.Size {
		q.breakRing() // avail.idx jumped by more than the ring holds
		return 0
	}
	return n
}

// Pop takes the next available descriptor chain into c (whose buffers are
// reused) and reports whether there was one. A malformed chain (§2.7.5:
// bad index, loop, out-of-RAM buffer, bad indirect table, readable after
// writable) is returned to the driver with length 0 and counted; Pop then
// goes on with the next one, so devices only ever see well-formed chains.
// A corrupted ring marks the device DEVICE_NEEDS_RESET and ends the queue.
func (q *Queue) Pop(c *Chain) bool {
	for !q.broken && q.pending() > 0 {
		slot := q.cfg.Avail + ringHeader + 2*guestmem.GPA(q.nextAvail%q.cfg.Size)
		// Atomic: the driver may be publishing the neighbouring entry in
		// the same 4-byte word (the harness does, with an atomic store).
		head, err := q.mem.LoadUint16Acquire(slot)
		if err != nil {
			q.breakRing()
			return false
		}
		q.nextAvail++
		if head >= q.cfg.Size {
			// Nothing sensible to return to the driver: the ring is garbage.
			q.breakRing()
			return false
		}
		if err := q.walk(head, c); err != nil {
			q.counters.BadChain.Add(1)
			q.PushUsed(head, 0)
			continue
		}
		return true
	}
	return false
}

// UsedElem is one used-ring element (struct virtq_used_elem): the head of
// a chain returned to the driver and the bytes written into its
// device-writable buffers.
type UsedElem struct {
	Head uint16
	Len  uint32
}

// PushUsed returns chain head to the driver with n bytes written into its
// device-writable buffers, and publishes it (release store of used.idx).
// It is PushUsedBatch with one element.
func (q *Queue) PushUsed(head uint16, n uint32) {
	e := [1]UsedElem{{Head: head, Len: n}}
	q.pushUsed(e[:])
}

// PushUsedBatch returns the chains of elems to the driver, in order, and
// publishes them at once: every element is written, then used.idx is
// stored once (release), so a driver sees all of them or none. A device
// returns the chains of one message this way, such as a frame spread over
// several mergeable receive buffers (virtio-net's num_buffers): a driver
// polling the used ring would otherwise find the first buffers without
// the rest. Signal then decides on the interrupt for the whole batch, as
// for any chains returned since the last Signal (EVENT_IDX: used_event
// within [old used.idx, new used.idx)). elems is not kept, so a caller
// can reuse it and not allocate.
//
// The error is the device's own: a batch larger than the queue (a device
// never holds more chains than that). Nothing is written then.
func (q *Queue) PushUsedBatch(elems []UsedElem) error {
	if len(elems) > int(q.cfg.Size) {
		return fmt.Errorf("virtio: %d used elements in one batch for a queue of %d", len(elems), q.cfg.Size)
	}
	q.pushUsed(elems)
	return nil
}

// pushUsed writes elems from the used ring's next entry on, then stores
// used.idx once. A used ring the device cannot write breaks the queue; the
// index then stays where it was.
func (q *Queue) pushUsed(elems []UsedElem) {
	if q.broken || len(elems) == 0 {
		return
	}
	idx := q.nextUsed
	for _, e := range elems {
		a := q.cfg.Used + ringHeader + usedElemSize*guestmem.GPA(idx%q.cfg.Size)
		if q.mem.PutUint32(a, uint32(e.Head)) != nil || q.mem.PutUint32(a+4, e.Len) != nil {
			q.breakRing()
			return
		}
		idx++
	}
	q.nextUsed = idx
	if q.mem.StoreUint16Release(q.cfg.Used+usedIdxOff, idx) != nil {
		q.breakRing()
	}
}

// Signal raises the used-buffer interrupt if the driver wants one for the
// chains returned since the last Signal, by one PushUsed or PushUsedBatch
// or many: with EVENT_IDX when used.idx passed used_event, i.e. used_event
// lies in [used.idx at the last Signal, used.idx now) modulo 2^16
// (§2.7.10), otherwise unless the driver set VRING_AVAIL_F_NO_INTERRUPT.
// The error is a host-side interrupt failure.
func (q *Queue) Signal() error {
	if q.broken || (q.signalledValid && q.signalled == q.nextUsed) {
		return nil
	}
	// used.idx was stored with a full barrier (StoreUint16Release is a
	// locked read-modify-write), so the driver's used_event/flags read here
	// is not reordered before it.
	need := true
	if q.eventIdx {
		ev, err := q.mem.LoadUint16Acquire(q.usedEventAddr())
		if err != nil {
			q.breakRing()
			return nil
		}
		old, cur := q.signalled, q.nextUsed
		need = !q.signalledValid || vringNeedEvent(ev, cur, old)
	} else {
		flags, err := q.mem.LoadUint16Acquire(q.cfg.Avail + availFlagsOff)
		if err != nil {
			q.breakRing()
			return nil
		}
		need = flags&VRING_AVAIL_F_NO_INTERRUPT == 0
	}
	q.signalled, q.signalledValid = q.nextUsed, true
	if !need {
		return nil
	}
	return q.raise()
}

// vringNeedEvent is vring_need_event from virtio_ring.h: whether moving the
// index from old to cur passed event (all modulo 2^16).
func vringNeedEvent(event, cur, old uint16) bool {
	return cur-event-1 < cur-old
}

// EnableNotify re-arms driver notifications once the device has drained
// the queue, and reports whether the driver made more chains available in
// the meantime; then the device must drain again, because that notification
// may have been suppressed. With EVENT_IDX it writes avail_event (§2.7.10).
func (q *Queue) EnableNotify() bool {
	if q.broken {
		return false
	}
	if q.eventIdx {
		// A full barrier, then the re-read of avail.idx below: the driver
		// either sees the new avail_event and notifies, or we see its entry.
		if q.mem.StoreUint16Release(q.availEventAddr(), q.nextAvail) != nil {
			q.breakRing()
			return false
		}
	}
	q.availCache = q.nextAvail // force a fresh read of avail.idx
	return q.pending() > 0
}

// Process drains the queue: every available chain goes to fn, which
// returns how many bytes it wrote into the chain's writable buffers; the
// chain is then returned to the driver, the driver signalled if it asked to
// be, and notifications re-armed, until no chain is left. An error from fn
// (host-side) stops processing and is returned.
func (q *Queue) Process(c *Chain, fn func(c *Chain) (uint32, error)) error {
	for {
		for q.Pop(c) {
			n, err := fn(c)
			if err != nil {
				return err
			}
			q.PushUsed(c.Head, n)
		}
		if err := q.Signal(); err != nil {
			return err
		}
		if !q.EnableNotify() {
			return nil
		}
	}
}
