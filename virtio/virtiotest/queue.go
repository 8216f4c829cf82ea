package virtiotest

import (
	"encoding/binary"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
)

// Buf is one buffer of a chain the driver posts.
type Buf struct {
	Addr  guestmem.GPA
	Len   uint32
	Write bool // device-writable
}

// Desc is a raw descriptor, for hostile chains.
type Desc struct {
	Addr  uint64
	Len   uint32
	Flags uint16
	Next  uint16
}

// Used is one used-ring element.
type Used struct {
	ID  uint32
	Len uint32
}

// Queue is the driver side of one split virtqueue.
type Queue struct {
	d     *Driver
	Index int
	Cfg   virtio.QueueConfig

	availIdx uint16 // the avail.idx the driver publishes next
	kicked   uint16 // availIdx at the last Notify
	lastUsed uint16 // the next used element to read
	free     []uint16
	chains   [][]uint16 // by head: the descriptors to free once used
}

// SetupQueue allocates queue i's rings (each page aligned) with size
// entries, programs the registers and enables the queue.
func (d *Driver) SetupQueue(i int, size uint16) *Queue {
	d.T.Helper()
	n := uint64(size)
	cfg := virtio.QueueConfig{
		Size:  size,
		Desc:  d.Alloc(16*n, pageSize),
		Avail: d.Alloc(6+2*n, pageSize),
		Used:  d.Alloc(6+8*n, pageSize),
	}
	return d.SetupQueueAt(i, cfg)
}

// SetupQueueAt programs queue i with cfg as given (any values: tests use
// it for bad setups) and enables it.
func (d *Driver) SetupQueueAt(i int, cfg virtio.QueueConfig) *Queue {
	d.T.Helper()
	d.SetReg(RegQueueSel, uint32(i))
	if r := d.Reg(RegQueueReady); r != 0 {
		d.T.Fatalf("queue %d ready (%d) before setup", i, r)
	}
	d.SetReg(RegQueueNum, uint32(cfg.Size))
	d.SetReg(RegQueueDescLow, uint32(cfg.Desc))
	d.SetReg(RegQueueDescHigh, uint32(uint64(cfg.Desc)>>32))
	d.SetReg(RegQueueDriverLow, uint32(cfg.Avail))
	d.SetReg(RegQueueDriverHigh, uint32(uint64(cfg.Avail)>>32))
	d.SetReg(RegQueueDeviceLow, uint32(cfg.Used))
	d.SetReg(RegQueueDeviceHigh, uint32(uint64(cfg.Used)>>32))
	d.SetReg(RegQueueReady, 1)
	q := &Queue{d: d, Index: i, Cfg: cfg, chains: make([][]uint16, cfg.Size)}
	for j := int(cfg.Size) - 1; j >= 0; j-- {
		q.free = append(q.free, uint16(j))
	}
	return q
}

// Free returns how many descriptors the driver has not posted.
func (q *Queue) Free() int { return len(q.free) }

// takeDescs moves n free descriptors into the chain list of their head
// (the first one) and returns them.
func (q *Queue) takeDescs(n int) []uint16 {
	if n > len(q.free) || n == 0 {
		q.d.T.Fatalf("queue %d: %d descriptors wanted, %d free", q.Index, n, len(q.free))
	}
	head := q.free[len(q.free)-1]
	ids := append(q.chains[head][:0], q.free[len(q.free)-n:]...)
	q.free = q.free[:len(q.free)-n]
	// the free list is a stack: reverse so that ids[0] is head
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	q.chains[head] = ids
	return ids
}

// Add posts bufs as one chain of direct descriptors and returns its head.
// It does not notify the device (Kick, KickEventFD or Notify do).
func (q *Queue) Add(bufs ...Buf) uint16 {
	ids := q.takeDescs(len(bufs))
	for i, b := range bufs {
		d := Desc{Addr: uint64(b.Addr), Len: b.Len}
		if b.Write {
			d.Flags |= virtio.VRING_DESC_F_WRITE
		}
		if i+1 < len(bufs) {
			d.Flags |= virtio.VRING_DESC_F_NEXT
			d.Next = ids[i+1]
		}
		q.WriteDesc(ids[i], d)
	}
	q.Publish(ids[0])
	return ids[0]
}

// AddIndirect posts bufs through one indirect descriptor table, allocated
// in guest memory.
func (q *Queue) AddIndirect(bufs ...Buf) uint16 {
	addr := q.d.Alloc(16*uint64(len(bufs)), 16)
	for i, b := range bufs {
		d := Desc{Addr: uint64(b.Addr), Len: b.Len}
		if b.Write {
			d.Flags |= virtio.VRING_DESC_F_WRITE
		}
		if i+1 < len(bufs) {
			d.Flags |= virtio.VRING_DESC_F_NEXT
			d.Next = uint16(i + 1)
		}
		q.putDesc(addr+16*guestmem.GPA(i), d)
	}
	ids := q.takeDescs(1)
	q.WriteDesc(ids[0], Desc{Addr: uint64(addr), Len: uint32(16 * len(bufs)), Flags: virtio.VRING_DESC_F_INDIRECT})
	q.Publish(ids[0])
	return ids[0]
}

// WriteDesc writes descriptor i of the queue's table as given.
func (q *Queue) WriteDesc(i uint16, d Desc) {
	q.putDesc(q.Cfg.Desc+16*guestmem.GPA(i), d)
}

// WriteTable writes descriptors at addr (an indirect table, or any memory).
func (q *Queue) WriteTable(addr guestmem.GPA, descs []Desc) {
	for i, d := range descs {
		q.putDesc(addr+16*guestmem.GPA(i), d)
	}
}

func (q *Queue) putDesc(a guestmem.GPA, d Desc) {
	e, err := q.d.Mem.Slice(a, 16)
	if err != nil {
		q.d.T.Fatal(err)
	}
	binary.LittleEndian.PutUint64(e[0:], d.Addr)
	binary.LittleEndian.PutUint32(e[8:], d.Len)
	binary.LittleEndian.PutUint16(e[12:], d.Flags)
	binary.LittleEndian.PutUint16(e[14:], d.Next)
}

// Publish puts head in the available ring and makes it visible (release
// store of avail.idx). Ring words are written atomically: the device reads
// the 4-byte words around avail.idx and used_event atomically.
func (q *Queue) Publish(head uint16) {
	slot := q.Cfg.Avail + 4 + 2*guestmem.GPA(q.availIdx%q.Cfg.Size)
	q.store16(slot, head)
	q.availIdx++
	q.store16(q.Cfg.Avail+2, q.availIdx)
}

// SetAvailIdx publishes an arbitrary avail.idx (hostile drivers).
func (q *Queue) SetAvailIdx(v uint16) {
	q.availIdx = v
	q.store16(q.Cfg.Avail+2, v)
}

// SetAvailEntry writes avail.ring[i] without publishing it.
func (q *Queue) SetAvailEntry(i, head uint16) {
	q.store16(q.Cfg.Avail+4+2*guestmem.GPA(i%q.Cfg.Size), head)
}

// SetNoInterrupt sets or clears VRING_AVAIL_F_NO_INTERRUPT.
func (q *Queue) SetNoInterrupt(on bool) {
	var v uint16
	if on {
		v = virtio.VRING_AVAIL_F_NO_INTERRUPT
	}
	q.store16(q.Cfg.Avail, v)
}

// SetUsedEvent writes used_event (EVENT_IDX): interrupt me once the used
// index passes v.
func (q *Queue) SetUsedEvent(v uint16) {
	q.store16(q.Cfg.Avail+4+2*guestmem.GPA(q.Cfg.Size), v)
}

// AvailEvent reads avail_event, written by the device (EVENT_IDX).
func (q *Queue) AvailEvent() uint16 {
	return q.load16(q.Cfg.Used + 4 + 8*guestmem.GPA(q.Cfg.Size))
}

// UsedIdx reads used.idx (acquire).
func (q *Queue) UsedIdx() uint16 {
	return q.load16(q.Cfg.Used + 2)
}

func (q *Queue) store16(a guestmem.GPA, v uint16) {
	if err := q.d.Mem.StoreUint16Release(a, v); err != nil {
		q.d.T.Fatal(err)
	}
}

func (q *Queue) load16(a guestmem.GPA) uint16 {
	v, err := q.d.Mem.LoadUint16Acquire(a)
	if err != nil {
		q.d.T.Fatal(err)
	}
	return v
}

// Kick notifies the device through the QueueNotify register (the path
// without ioeventfd).
func (q *Queue) Kick() { q.d.SetReg(RegQueueNotify, uint32(q.Index)) }

// KickEventFD notifies the device by writing its notify eventfd directly,
// which is what KVM does for an ioeventfd.
func (q *Queue) KickEventFD() {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	if err := writeFD(q.d.MMIO.NotifyFDs()[q.Index], b[:]); err != nil {
		q.d.T.Fatal(err)
	}
}

// Notify kicks the device (as KickEventFD) if it asked to be notified of
// the chains published since the last Notify: with EVENT_IDX when they
// pass avail_event, otherwise unless the device set VRING_USED_F_NO_NOTIFY
// (Linux's virtqueue_kick_prepare). It reports whether it kicked.
func (q *Queue) Notify() bool {
	old, cur := q.kicked, q.availIdx
	q.kicked = cur
	if old == cur {
		return false
	}
	var need bool
	if q.d.Features&virtio.Bit(virtio.VIRTIO_RING_F_EVENT_IDX) != 0 {
		ev := q.AvailEvent()
		need = cur-ev-1 < cur-old // vring_need_event
	} else {
		need = q.load16(q.Cfg.Used)&virtio.VRING_USED_F_NO_NOTIFY == 0
	}
	if need {
		q.KickEventFD()
	}
	return need
}

// Next returns the next used element, if the device published one, and
// frees its descriptors.
func (q *Queue) Next() (Used, bool) {
	if q.UsedIdx() == q.lastUsed {
		return Used{}, false
	}
	e := q.Cfg.Used + 4 + 8*guestmem.GPA(q.lastUsed%q.Cfg.Size)
	id, err1 := q.d.Mem.Uint32(e)
	n, err2 := q.d.Mem.Uint32(e + 4)
	if err1 != nil || err2 != nil {
		q.d.T.Fatalf("reading used element: %v %v", err1, err2)
	}
	q.lastUsed++
	if id < uint32(len(q.chains)) && len(q.chains[id]) > 0 {
		ids := q.chains[id]
		for k := len(ids) - 1; k >= 0; k-- { // keep the stack order
			q.free = append(q.free, ids[k])
		}
		q.chains[id] = ids[:0]
	}
	return Used{ID: id, Len: n}, true
}

// WaitErr waits for the next used element, sleeping on the device's
// interrupts only (no polling, so a missing interrupt is an error). With
// EVENT_IDX it first asks for an interrupt at the next element.
func (q *Queue) WaitErr() (Used, error) {
	var u [1]Used
	err := q.waitInto(u[:])
	return u[0], err
}

// waitInto fills out with the next len(out) used elements.
func (q *Queue) waitInto(out []Used) error {
	var deadline time.Time
	for i := 0; i < len(out); {
		if u, ok := q.Next(); ok {
			out[i] = u
			i++
			continue
		}
		q.SetUsedEvent(q.lastUsed)
		if u, ok := q.Next(); ok {
			out[i] = u
			i++
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(q.d.Timeout)
		}
		got, err := q.d.IRQ.wait(deadline)
		if err != nil {
			return err
		}
		if !got {
			return q.d.timeoutErr("a used buffer")
		}
		q.d.AckInterrupt()
	}
	return nil
}

// Wait is WaitErr that fails the test on a timeout.
func (q *Queue) Wait() Used {
	q.d.T.Helper()
	u, err := q.WaitErr()
	if err != nil {
		q.d.T.Fatalf("queue %d: %v", q.Index, err)
	}
	return u
}

// WaitN waits for n used elements.
func (q *Queue) WaitN(n int) []Used {
	q.d.T.Helper()
	out := make([]Used, n)
	if err := q.waitInto(out); err != nil {
		q.d.T.Fatalf("queue %d: %v", q.Index, err)
	}
	return out
}
