package p9

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
)

// A session is one activation of the device: one connection of the p9
// server. The server reads T-messages from one end of an in-memory pipe
// (net.Pipe: a write is copied straight into the reader's buffer, no
// kernel, no intermediate buffer); the queue worker checks each request
// chain's T-message and writes it into the other end under a tag of its
// own (the slot index). The server writes each R-message to a
// replyWriter, which puts it straight into the writable buffers of the
// chain that slot holds, with the guest's tag back in place, and returns
// the chain (reply.go). Replies come back in any order.
//
// The device's own tags make the routing independent of the guest's: a
// guest reusing a tag still in flight (legal after Rflush) or using NOTAG
// gets its replies into the right chains, and a reply the server could
// not tag (NOTAG, for a message it failed to decode) could never be taken
// for someone else's.
type session struct {
	d    *Device
	ctx  *virtio.ActivationContext
	mem  *guestmem.Memory
	q    *virtio.Queue
	conn net.Conn // the device's end of the pipe

	w        *replyWriter  // the server's output
	stopping atomic.Bool   // stop was called: a closed pipe is expected
	broken   atomic.Bool   // the server hung up; NEEDS_RESET is set
	srvDone  chan struct{} // closed when the server's Handle returned

	// Owned by the queue worker.
	chain virtio.Chain
	msg   []byte // the T-message being forwarded (Twrite: its fixed part)
	iov   [][]byte

	// mu guards the queue (the worker pops, replies push), the slots and
	// the msize state. Lock order: the server's send lock, then
	// replyWriter.mu, then mu.
	mu       sync.Mutex
	slots    [QueueSize]slot
	free     []uint16          // free slot indexes (the device's tags)
	byTag    map[uint16]uint16 // guest tag -> slot of the latest request with it (for Tflush)
	idle     chan struct{}     // closed by finish when no request is in flight any more (stop waits)
	msize    uint32            // negotiated; the device's maximum until a Tversion
	verCap   uint32            // while Tversions are in flight, the smallest msize they ask for
	verCount int               // Tversions in flight
}

// slot is one request in flight: where its reply goes.
type slot struct {
	busy  bool
	head  uint16
	bufs  []virtio.Buffer // the chain's writable buffers
	room  uint64          // their bytes
	tag   uint16          // the guest's tag
	typ   uint8           // the T-message type
	msize uint32          // Tversion: the msize asked for (after the cap)
}

func (d *Device) startSession(ctx *virtio.ActivationContext) *session {
	dev, srv := net.Pipe()
	s := &session{
		d: d, ctx: ctx, mem: ctx.Mem, q: ctx.Queues[0], conn: dev,
		srvDone: make(chan struct{}),
		msg:     make([]byte, d.max),
		byTag:   map[uint16]uint16{},
		msize:   d.max,
	}
	s.free = make([]uint16, 0, QueueSize)
	for i := QueueSize - 1; i >= 0; i-- {
		s.free = append(s.free, uint16(i))
	}
	s.w = &replyWriter{s: s}
	go func() {
		defer close(s.srvDone)
		defer func() {
			if recover() != nil { // see serverEnd
				d.Stats.ServerPanics.Add(1)
			}
		}()
		_ = d.srv.Handle(&serverEnd{Conn: srv, s: s}, s.w) // always nil; it returns when the pipe closes
	}()
	return s
}

// Timing of a session's end (see serverEnd).
const (
	drainTimeout = 5 * time.Second       // for requests in flight to finish
	endGrace     = 10 * time.Millisecond // for receivers the server started to run
)

// serverEnd is the server's end of the pipe. At the end of a session its
// Read fails only after endGrace. The reason is a race in p9 v0.3.0's
// connection handling: a receiving goroutine that finds no idle one
// starts another (go cs.handleRequests()), which registers in the
// connection's WaitGroup as its first step, while the connection's end
// waits on that WaitGroup (cs.stop); a goroutine started but not yet run
// when the wait begins makes the WaitGroup panic. While the last Read
// sleeps, the server's receive lock is held, so the connection cannot end,
// and a started goroutine runs and registers. stop also waits until no
// request is in flight first, so the last goroutine was started long
// before. (Were it ever to happen anyway, the panic in the connection's
// own goroutine is recovered and counted in Stats.ServerPanics.)
type serverEnd struct {
	net.Conn
	s *session
}

func (e *serverEnd) Read(p []byte) (int, error) {
	n, err := e.Conn.Read(p)
	if err != nil && e.s.stopping.Load() {
		time.Sleep(endGrace)
	}
	return n, err
}

// stop ends the session: once the requests in flight are answered (or
// after drainTimeout), the replyWriter closes and so does the pipe; the
// server drops every fid and stop returns when its connection has ended.
// After stop no goroutine of the session touches guest memory.
func (s *session) stop() {
	s.stopping.Store(true)
	s.mu.Lock()
	idle := make(chan struct{})
	if len(s.free) == QueueSize {
		close(idle)
	} else {
		s.idle = idle
	}
	s.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(drainTimeout):
	}
	_ = s.w.Close()    // nothing more reaches guest memory
	_ = s.conn.Close() // net.Pipe's Close cannot fail
	<-s.srvDone
}

// serverGone is the server closing its connection: expected after stop, a
// reset request otherwise.
func (s *session) serverGone() {
	if err := s.hangUp(); err != nil {
		s.d.fail(fmt.Errorf("virtio-9p: %w", err))
	}
}

// hangUp handles the loss of the server's end outside stop: the guest
// made the server drop the connection (which the checks should prevent),
// so the device asks for a reset, which starts a new session.
func (s *session) hangUp() error {
	if s.stopping.Load() || s.broken.Swap(true) {
		return nil
	}
	return s.ctx.NeedsReset()
}

// limit is the largest message accepted now: the negotiated msize, or
// less while a Tversion asking for less is in flight (the server may
// apply it to any message after it). mu is held.
func (s *session) limit() uint32 {
	if s.verCount > 0 {
		return min(s.msize, s.verCap)
	}
	return s.msize
}

// kick drains the request queue. The error is host-side.
func (s *session) kick() error {
	for {
		if s.broken.Load() {
			return nil // chains wait for the reset
		}
		s.mu.Lock()
		if !s.q.Pop(&s.chain) {
			err := s.q.Signal()
			more := s.q.EnableNotify()
			s.mu.Unlock()
			if err != nil || !more {
				return err
			}
			continue
		}
		s.mu.Unlock()
		if err := s.request(&s.chain); err != nil {
			return err
		}
	}
}

// push returns a chain to the driver; Signal follows when the worker has
// drained the queue.
func (s *session) push(head uint16, n uint32) {
	s.mu.Lock()
	s.q.PushUsed(head, n)
	s.mu.Unlock()
}

// forward hands a checked T-message to the server under a free slot's tag:
// msg (header and body, or Twrite's fixed part) then payload (Twrite's
// data, straight from guest memory). msize is a Tversion's.
func (s *session) forward(c *virtio.Chain, typ uint8, tag uint16, msize uint32, msg []byte, payload [][]byte) error {
	s.mu.Lock()
	if len(s.free) == 0 { // cannot happen: a slot per chain, no more chains than slots
		s.mu.Unlock()
		return s.answerErr(c, tag, eagain)
	}
	if typ == P9_TFLUSH {
		// Look up the request flushed now, not before: were it answered
		// between that look and this slot taken, the Tflush would get its
		// slot (the last freed) and name its own tag, and the p9 server's
		// Tflush waits for the tag it names to finish: for ever. Nothing
		// in flight under that tag any more: flushed already.
		old := binary.LittleEndian.Uint16(msg[hdrSize:])
		ot, ok := s.byTag[old]
		if !ok {
			s.mu.Unlock()
			s.d.Stats.Local.Add(1)
			var r [hdrSize]byte
			putHeader(r[:], hdrSize, P9_RFLUSH, tag)
			return s.answer(c, r[:])
		}
		binary.LittleEndian.PutUint16(msg[hdrSize:], ot)
	}
	it := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	sl := &s.slots[it]
	sl.busy, sl.head, sl.room, sl.tag, sl.typ, sl.msize = true, c.Head, c.WriteLen, tag, typ, msize
	sl.bufs = append(sl.bufs[:0], c.Writable()...)
	s.byTag[tag] = it
	if typ == P9_TVERSION {
		if s.verCount == 0 || msize < s.verCap {
			s.verCap = msize
		}
		s.verCount++
	}
	s.mu.Unlock()

	putHeader(msg, uint32(len(msg))+uint32(iovLen(payload)), typ, it)
	if _, err := s.conn.Write(msg); err != nil {
		return s.lost(err)
	}
	for _, p := range payload {
		if _, err := s.conn.Write(p); err != nil {
			return s.lost(err)
		}
	}
	s.d.Stats.Requests.Add(1)
	return nil
}

// lost handles a failed write to the server: the pipe is closed, by stop
// (the worker is stopped before, so never) or by the server.
// A net.Pipe write fails only on a closed pipe.
func (s *session) lost(error) error {
	if s.stopping.Load() {
		return nil
	}
	return s.hangUp()
}

func iovLen(v [][]byte) int {
	n := 0
	for _, p := range v {
		n += len(p)
	}
	return n
}
