package virtio_test

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// ready returns a driver with queue 0 (size 16) running, features f.
func ready(t *testing.T, f uint64) (*vt.Driver, *vt.Queue, *loopDev) {
	t.Helper()
	dev := newLoopDev()
	d := vt.New(t, dev, vt.Options{})
	d.Init(f)
	q := d.SetupQueue(0, 16)
	d.DriverOK()
	return d, q, dev
}

func TestChainsDirectAndIndirect(t *testing.T) {
	for _, indirect := range []bool{false, true} {
		t.Run(fmt.Sprintf("indirect=%v", indirect), func(t *testing.T) {
			d, q, dev := ready(t, fVersion1|fIndirect)
			// readable "hello, " + "world" (plus a zero-length buffer), then
			// three writable buffers of 4+0+8 bytes
			a, b := d.Put([]byte("hello, ")), d.Put([]byte("world"))
			w1, w2 := d.Alloc(4, 8), d.Alloc(8, 8)
			bufs := []vt.Buf{{Addr: a, Len: 7}, {Addr: 0, Len: 0}, {Addr: b, Len: 5},
				{Addr: w1, Len: 4, Write: true}, {Addr: 0x1234, Len: 0, Write: true}, {Addr: w2, Len: 8, Write: true}}
			var head uint16
			if indirect {
				head = q.AddIndirect(bufs...)
			} else {
				head = q.Add(bufs...)
			}
			q.Kick()
			u := q.Wait()
			if u.ID != uint32(head) || u.Len != 12 {
				t.Fatalf("used %+v, want id %d len 12", u, head)
			}
			got := append(d.Bytes(w1, 4), d.Bytes(w2, 8)...)
			if string(got) != "hello, world" {
				t.Errorf("written %q", got)
			}
			if r := dev.received(); len(r) != 1 || string(r[0]) != "hello, world" {
				t.Errorf("device read %q", r)
			}
		})
	}
}

func TestManyChainsOneKick(t *testing.T) {
	d, q, dev := ready(t, fVersion1|fEventIdx)
	for round := range 5 { // wraps the 16-entry ring several times
		var heads []uint16
		for i := range 16 {
			heads = append(heads, q.Add(vt.Buf{Addr: d.Put([]byte{byte(round), byte(i)}), Len: 2}))
		}
		q.KickEventFD()
		for i, u := range q.WaitN(16) {
			if u.ID != uint32(heads[i]) || u.Len != 0 {
				t.Fatalf("round %d: used %d = %+v, want head %d", round, i, u, heads[i])
			}
		}
	}
	if n := len(dev.received()); n != 80 {
		t.Errorf("device saw %d chains, want 80", n)
	}
}

// TestEventIdx checks both directions of notification suppression (§2.7.10).
func TestEventIdx(t *testing.T) {
	d, q, _ := ready(t, fVersion1|fEventIdx)
	buf := d.Alloc(8, 8)
	q.Add(vt.Buf{Addr: buf, Len: 8})
	q.Kick()
	q.Wait()
	// The device re-arms driver notifications at the next entry once it
	// has drained the queue, which may be just after the used element
	// became visible to Wait.
	deadline := time.Now().Add(5 * time.Second)
	for q.AvailEvent() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if ev := q.AvailEvent(); ev != 1 {
		t.Errorf("avail_event %d after one chain, want 1", ev)
	}
	irqs := d.IRQ.Count()

	// used_event far ahead: the device must not interrupt.
	q.SetUsedEvent(100)
	q.Add(vt.Buf{Addr: buf, Len: 8})
	q.Kick()
	waitUsedIdx(t, q, 2)
	if n := d.IRQ.Count() - irqs; n != 0 {
		t.Errorf("%d interrupts with used_event ahead, want 0", n)
	}
	// used_event at the next element: exactly one interrupt.
	q.Next()
	q.SetUsedEvent(2)
	q.Add(vt.Buf{Addr: buf, Len: 8})
	q.Kick()
	waitUsedIdx(t, q, 3)
	waitIRQ(t, d, irqs+1)
	q.Next()
}

func TestNoInterruptFlag(t *testing.T) {
	d, q, _ := ready(t, fVersion1) // no EVENT_IDX
	buf := d.Alloc(8, 8)
	q.SetNoInterrupt(true)
	q.Add(vt.Buf{Addr: buf, Len: 8})
	q.Kick()
	waitUsedIdx(t, q, 1)
	if n := d.IRQ.Count(); n != 0 {
		t.Errorf("%d interrupts with VRING_AVAIL_F_NO_INTERRUPT, want 0", n)
	}
	q.Next()
	q.SetNoInterrupt(false)
	q.Add(vt.Buf{Addr: buf, Len: 8})
	q.Kick()
	q.Wait()
	// The used element is visible before the interrupt is raised (used.idx
	// is published first, then Signal decides): Wait may return without
	// having slept on it. Wait for it, then acknowledge it.
	waitIRQ(t, d, 1)
	d.AckInterrupt()
	if isr := d.Reg(vt.RegInterruptStatus); isr != 0 {
		t.Errorf("InterruptStatus %#x after Wait acked it", isr)
	}
}

// waitUsedIdx waits without interrupts for used.idx to reach n (only for
// tests that check an interrupt is suppressed).
func waitUsedIdx(t *testing.T, q *vt.Queue, n uint16) {
	t.Helper()
	for range 10000 {
		if q.UsedIdx() == n {
			return
		}
		sleepBriefly()
	}
	t.Fatalf("used.idx %d, want %d", q.UsedIdx(), n)
}

func waitIRQ(t *testing.T, d *vt.Driver, n uint64) {
	t.Helper()
	for range 10000 {
		if d.IRQ.Count() >= n {
			return
		}
		sleepBriefly()
	}
	t.Fatalf("%d interrupts, want %d", d.IRQ.Count(), n)
}

// TestMalformedChains posts hostile chains: each is returned with length 0
// and counted, the device never sees it, and the queue keeps working.
func TestMalformedChains(t *testing.T) {
	const ram = vt.DefaultMemSize
	const (
		next  = virtio.VRING_DESC_F_NEXT
		write = virtio.VRING_DESC_F_WRITE
		ind   = virtio.VRING_DESC_F_INDIRECT
	)
	for _, c := range []struct {
		name     string
		descs    []vt.Desc // at descriptor 0..; the head is 0
		table    []vt.Desc // an indirect table, at tableAddr
		features uint64
	}{
		{name: "self loop", descs: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 0}}},
		{name: "two-descriptor loop", descs: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 1}, {Addr: 0x8000, Len: 8, Flags: next, Next: 0}}},
		{name: "next out of range", descs: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 16}}},
		{name: "next 0xffff", descs: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 0xffff}}},
		{name: "buffer past RAM", descs: []vt.Desc{{Addr: ram - 4, Len: 8}}},
		{name: "buffer far outside", descs: []vt.Desc{{Addr: 1 << 50, Len: 1}}},
		{name: "address+length overflows", descs: []vt.Desc{{Addr: 0xfffffffffffffff0, Len: 0x20}}},
		{name: "huge length", descs: []vt.Desc{{Addr: 0x8000, Len: 0xffffffff, Flags: write}}},
		{name: "readable after writable", descs: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next | write, Next: 1}, {Addr: 0x8000, Len: 8}}},
		{name: "indirect not negotiated", features: fVersion1, descs: []vt.Desc{{Addr: 0x9000, Len: 16, Flags: ind}},
			table: []vt.Desc{{Addr: 0x8000, Len: 8}}},
		{name: "indirect with next", descs: []vt.Desc{{Addr: 0x9000, Len: 16, Flags: ind | next, Next: 1}, {Addr: 0x8000, Len: 8}},
			table: []vt.Desc{{Addr: 0x8000, Len: 8}}},
		{name: "indirect length 0", descs: []vt.Desc{{Addr: 0x9000, Len: 0, Flags: ind}}},
		{name: "indirect length not a multiple of 16", descs: []vt.Desc{{Addr: 0x9000, Len: 24, Flags: ind}}},
		{name: "indirect table too big", descs: []vt.Desc{{Addr: 0x9000, Len: 17 * 16, Flags: ind}}},
		{name: "indirect table outside RAM", descs: []vt.Desc{{Addr: ram - 16, Len: 32, Flags: ind}}},
		{name: "indirect table misaligned", descs: []vt.Desc{{Addr: 0x9008, Len: 16, Flags: ind}}},
		{name: "nested indirect", descs: []vt.Desc{{Addr: 0x9000, Len: 32, Flags: ind}},
			table: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 1}, {Addr: 0x9000, Len: 32, Flags: ind}}},
		{name: "loop inside indirect table", descs: []vt.Desc{{Addr: 0x9000, Len: 32, Flags: ind}},
			table: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 1}, {Addr: 0x8000, Len: 8, Flags: next, Next: 0}}},
		{name: "indirect next out of table", descs: []vt.Desc{{Addr: 0x9000, Len: 32, Flags: ind}},
			table: []vt.Desc{{Addr: 0x8000, Len: 8, Flags: next, Next: 2}}},
		{name: "indirect buffer outside RAM", descs: []vt.Desc{{Addr: 0x9000, Len: 16, Flags: ind}},
			table: []vt.Desc{{Addr: ram, Len: 1}}},
		{name: "direct chain into an indirect table into a long chain", descs: []vt.Desc{
			{Addr: 0x8000, Len: 8, Flags: next, Next: 1}, {Addr: 0x9000, Len: 16 * 16, Flags: ind}},
			table: chainOf(16)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.features
			if f == 0 {
				f = fVersion1 | fIndirect
			}
			d, q, dev := ready(t, f)
			if c.table != nil {
				q.WriteTable(0x9000, c.table)
			}
			for i, desc := range c.descs {
				q.WriteDesc(uint16(i), desc)
			}
			q.Publish(0)
			// and a good chain after it
			good := d.Put([]byte("ok"))
			q.WriteDesc(8, vt.Desc{Addr: uint64(good), Len: 2})
			q.Publish(8)
			q.Kick()
			u := q.Wait()
			if u.ID != 0 || u.Len != 0 {
				t.Errorf("bad chain used as %+v, want id 0 len 0", u)
			}
			if u := q.Wait(); u.ID != 8 {
				t.Errorf("good chain used as %+v, want id 8", u)
			}
			if got := dev.received(); len(got) != 1 || !bytes.Equal(got[0], []byte("ok")) {
				t.Errorf("device saw %q, want only the good chain", got)
			}
			if n := d.MMIO.Counters().BadChain.Load(); n != 1 {
				t.Errorf("BadChain %d, want 1", n)
			}
			if s := d.Status(); s&sNEEDSRESET != 0 {
				t.Errorf("status %#x: a bad chain must not need a reset", s)
			}
		})
	}
}

// chainOf returns an indirect table of n linked 8-byte readable buffers.
func chainOf(n int) []vt.Desc {
	t := make([]vt.Desc, n)
	for i := range t {
		t[i] = vt.Desc{Addr: 0x8000, Len: 8, Flags: virtio.VRING_DESC_F_NEXT, Next: uint16(i + 1)}
	}
	t[n-1].Flags = 0
	return t
}

// TestLongestChains: a chain of exactly queue-size descriptors is fine,
// directly and through an indirect table.
func TestLongestChains(t *testing.T) {
	d, q, dev := ready(t, fVersion1|fIndirect)
	bufs := make([]vt.Buf, 16)
	for i := range bufs {
		bufs[i] = vt.Buf{Addr: d.Put([]byte{byte('a' + i)}), Len: 1}
	}
	q.Add(bufs...)
	q.Kick()
	q.Wait()
	q.AddIndirect(bufs...)
	q.Kick()
	q.Wait()
	for _, r := range dev.received() {
		if string(r) != "abcdefghijklmnop" {
			t.Errorf("device read %q", r)
		}
	}
}

// TestCorruptRingNeedsReset: a head index or avail.idx no driver could
// produce leaves nothing to return; the device asks for a reset.
func TestCorruptRingNeedsReset(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(q *vt.Queue)
	}{
		{"head out of range", func(q *vt.Queue) { q.Publish(16) }},
		{"head 0xffff", func(q *vt.Queue) { q.Publish(0xffff) }},
		{"avail.idx jumps past the ring", func(q *vt.Queue) { q.SetAvailIdx(17) }},
		{"avail.idx goes backwards", func(q *vt.Queue) { q.SetAvailIdx(0xffff) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, q, dev := ready(t, fVersion1)
			c.do(q)
			q.Kick()
			waitIRQ(t, d, 1)
			if s := d.Status(); s&sNEEDSRESET == 0 {
				t.Fatalf("status %#x, want NEEDS_RESET", s)
			}
			if isr := d.AckInterrupt(); isr != virtio.VIRTIO_MMIO_INT_CONFIG {
				t.Errorf("InterruptStatus %#x, want the config bit", isr)
			}
			if len(dev.received()) != 0 {
				t.Error("the device processed a chain from a corrupt ring")
			}
			// A reset and a fresh setup recover.
			d.Init(fVersion1)
			q = d.SetupQueue(0, 16)
			d.DriverOK()
			q.Add(vt.Buf{Addr: d.Put([]byte("x")), Len: 1})
			q.Kick()
			q.Wait()
		})
	}
}

// TestQueueConfigValidate covers the checks behind NEEDS_RESET at DRIVER_OK.
func TestQueueConfigValidate(t *testing.T) {
	mem, err := guestmem.NewBytes(guestmem.Range{Base: 0, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ok := virtio.QueueConfig{Size: 256, Desc: 0x1000, Avail: 0x2000, Used: 0x3000}
	if err := ok.Validate(mem, 256); err != nil {
		t.Errorf("good config: %v", err)
	}
	// The used ring's avail_event word must be RAM: a ring ending 2 bytes
	// before the end of RAM is refused.
	end := virtio.QueueConfig{Size: 256, Desc: 0x1000, Avail: 0x2000, Used: 1<<20 - (4 + 8*256 + 2)}
	if err := end.Validate(mem, 256); err == nil {
		t.Error("used ring at the very end of RAM accepted")
	}
}

// deviceQueue returns the device side of the driver's queue 0, for tests
// that return chains themselves. No kick reaches the queue's worker, so
// the test goroutine is the queue's only user.
func deviceQueue(t *testing.T, dev *loopDev) *virtio.Queue {
	t.Helper()
	if dev.ctx == nil || dev.ctx.Queues[0] == nil {
		t.Fatal("the device is not active")
	}
	return dev.ctx.Queues[0]
}

// advanceUsed moves the device's used index to idx (from 0) with batches
// that fill the ring, then signals, so that the next Signal decides on the
// chains returned after idx only.
func advanceUsed(t *testing.T, dq *virtio.Queue, idx uint16) {
	t.Helper()
	batch := make([]virtio.UsedElem, dq.Size())
	for left := int(idx); left > 0; left -= len(batch) {
		if err := dq.PushUsedBatch(batch[:min(left, len(batch))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := dq.Signal(); err != nil {
		t.Fatal(err)
	}
}

// usedRing returns a copy of the used ring: flags, idx, the elements.
func usedRing(t *testing.T, d *vt.Driver, q *vt.Queue) []byte {
	t.Helper()
	return bytes.Clone(d.Bytes(q.Cfg.Used, 4+8*int(q.Cfg.Size)))
}

// TestPushUsedBatch: a batch that wraps around the ring's end writes its
// elements in order, from the next entry on and modulo the size, and
// moves used.idx once, past all of them; nothing else in the ring
// changes. Empty batches change nothing; one larger than the ring is
// refused and writes nothing.
func TestPushUsedBatch(t *testing.T) {
	d, q, dev := ready(t, fVersion1|fEventIdx)
	dq := deviceQueue(t, dev)
	const start = 13 // of 16 entries: the batch writes 13, 14, 15, 0, 1, 2
	advanceUsed(t, dq, start)
	for range start {
		q.Next()
	}
	elems := []virtio.UsedElem{{Head: 3, Len: 100}, {Head: 9, Len: 0}, {Head: 0, Len: 1 << 31},
		{Head: 15, Len: 7}, {Head: 1, Len: 4096}, {Head: 2, Len: 1}}

	before := usedRing(t, d, q)
	if err := dq.PushUsedBatch(nil); err != nil {
		t.Fatal(err)
	}
	if err := dq.PushUsedBatch(make([]virtio.UsedElem, 17)); err == nil {
		t.Error("a batch of 17 accepted by a queue of 16")
	}
	if got := usedRing(t, d, q); !bytes.Equal(got, before) {
		t.Fatal("an empty or refused batch changed the used ring")
	}

	if idx := q.UsedIdx(); idx != start {
		t.Fatalf("used.idx %d before the batch, want %d", idx, start)
	}
	if err := dq.PushUsedBatch(elems); err != nil {
		t.Fatal(err)
	}
	if idx := q.UsedIdx(); idx != start+uint16(len(elems)) {
		t.Fatalf("used.idx %d after a batch of %d, want %d", idx, len(elems), start+len(elems))
	}
	after := usedRing(t, d, q)
	for i, e := range elems {
		slot := (start + i) % 16
		if u, ok := q.Next(); !ok || u != (vt.Used{ID: uint32(e.Head), Len: e.Len}) {
			t.Errorf("element %d (slot %d): %+v %v, want %+v", i, slot, u, ok, e)
		}
		copy(before[4+8*slot:4+8*slot+8], after[4+8*slot:]) // expected to change
	}
	copy(before[2:4], after[2:4]) // used.idx
	if !bytes.Equal(after, before) {
		t.Error("the batch wrote used-ring entries outside its slots")
	}
	if _, ok := q.Next(); ok {
		t.Error("an element past the batch")
	}
}

// TestPushUsedBatchPublishesOnce: a driver polling used.idx while the
// device returns batches of 5 only ever sees multiples of 5. (One store
// per batch cannot be observed directly; per-element stores would show
// here as intermediate values.)
func TestPushUsedBatchPublishesOnce(t *testing.T) {
	_, q, dev := ready(t, fVersion1)
	dq := deviceQueue(t, dev)
	const batches, n = 13000, 5 // 65000 < 65536: no wrap of the index
	var stop atomic.Bool        // the device gave up
	started, done := make(chan struct{}), make(chan []uint16)
	go func() {
		var odd []uint16
		close(started)
		for !stop.Load() {
			idx := q.UsedIdx()
			if idx%n != 0 {
				odd = append(odd, idx)
			}
			if idx == batches*n {
				break
			}
		}
		done <- odd
	}()
	batch := make([]virtio.UsedElem, n)
	<-started
	for i := range batches {
		for j := range batch {
			batch[j] = virtio.UsedElem{Head: uint16(j), Len: uint32(i)}
		}
		if err := dq.PushUsedBatch(batch); err != nil {
			t.Error(err)
			stop.Store(true)
			break
		}
	}
	if odd := <-done; len(odd) > 0 {
		t.Fatalf("the driver saw used.idx between batches: %v", odd[:min(len(odd), 10)])
	}
}

// TestPushUsedBatchEventIdx: with EVENT_IDX, the Signal after a batch
// interrupts exactly when used_event lies in [old, new), the used index
// before and after the batch, modulo 2^16 (§2.7.10); the same as for the
// batch's elements pushed one by one and then signalled.
func TestPushUsedBatchEventIdx(t *testing.T) {
	for _, c := range []struct {
		start uint16 // used.idx before the batch (and at the last Signal)
		n     int
		event uint16 // used_event
		want  bool
	}{
		{0, 3, 0, true},  // used_event at the first element
		{0, 3, 2, true},  // at the last
		{0, 3, 3, false}, // just past the batch
		{0, 3, 100, false},
		{10, 3, 9, false}, // already passed before the batch
		{10, 1, 10, true}, // a batch of one
		{10, 1, 11, false},
		{65533, 5, 65533, true}, // the batch wraps: new index 2
		{65533, 5, 65535, true},
		{65533, 5, 0, true},
		{65533, 5, 1, true},
		{65533, 5, 2, false},
		{65533, 5, 65532, false},
		{65535, 1, 65535, true}, // a batch of one at the wrap: new index 0
		{65535, 1, 0, false},
		{65520, 16, 65535, true}, // a full ring ending at the wrap
		{65520, 16, 0, false},
		{65535, 16, 14, true}, // a full ring from 65535 to 15
		{65535, 16, 15, false},
		{65535, 16, 65534, false},
	} {
		for _, batched := range []bool{true, false} {
			t.Run(fmt.Sprintf("start=%d,n=%d,event=%d,batched=%v", c.start, c.n, c.event, batched), func(t *testing.T) {
				d, q, dev := ready(t, fVersion1|fEventIdx)
				dq := deviceQueue(t, dev)
				advanceUsed(t, dq, c.start)
				q.SetUsedEvent(c.event)
				irqs := d.IRQ.Count()
				elems := make([]virtio.UsedElem, c.n)
				for i := range elems {
					elems[i] = virtio.UsedElem{Head: uint16(i), Len: uint32(i)}
				}
				if batched {
					if err := dq.PushUsedBatch(elems); err != nil {
						t.Fatal(err)
					}
				} else {
					for _, e := range elems {
						dq.PushUsed(e.Head, e.Len)
					}
				}
				if idx := q.UsedIdx(); idx != c.start+uint16(c.n) {
					t.Fatalf("used.idx %d, want %d", idx, c.start+uint16(c.n))
				}
				if err := dq.Signal(); err != nil {
					t.Fatal(err)
				}
				if got := d.IRQ.Count() - irqs; got != map[bool]uint64{false: 0, true: 1}[c.want] {
					t.Errorf("%d interrupts, want %v", got, c.want)
				}
				// Nothing new: no second interrupt.
				if err := dq.Signal(); err != nil {
					t.Fatal(err)
				}
				if got := d.IRQ.Count() - irqs; got > 1 {
					t.Errorf("%d interrupts after a second Signal", got)
				}
			})
		}
	}
}

// TestPushUsedBatchNoInterruptFlag: without EVENT_IDX a batch is one
// interrupt at the next Signal, none while the driver sets
// VRING_AVAIL_F_NO_INTERRUPT.
func TestPushUsedBatchNoInterruptFlag(t *testing.T) {
	d, q, dev := ready(t, fVersion1)
	dq := deviceQueue(t, dev)
	advanceUsed(t, dq, 0)
	elems := make([]virtio.UsedElem, 7)
	for _, off := range []bool{true, false} {
		q.SetNoInterrupt(off)
		irqs := d.IRQ.Count()
		if err := dq.PushUsedBatch(elems); err != nil {
			t.Fatal(err)
		}
		if err := dq.Signal(); err != nil {
			t.Fatal(err)
		}
		want := uint64(1)
		if off {
			want = 0
		}
		if got := d.IRQ.Count() - irqs; got != want {
			t.Errorf("NO_INTERRUPT %v: %d interrupts, want %d", off, got, want)
		}
	}
}

// TestPushUsedBatchAllocs: returning chains allocates nothing.
func TestPushUsedBatchAllocs(t *testing.T) {
	_, _, dev := ready(t, fVersion1|fEventIdx)
	dq := deviceQueue(t, dev)
	elems := make([]virtio.UsedElem, 8)
	if n := testing.AllocsPerRun(100, func() {
		if err := dq.PushUsedBatch(elems); err != nil {
			t.Fatal(err)
		}
		dq.PushUsed(1, 2)
	}); n != 0 {
		t.Errorf("%v allocations per PushUsedBatch and PushUsed", n)
	}
}
