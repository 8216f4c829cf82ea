package p9

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/hullvm/hull/virtio"
)

// replyWriter is the server's output: the server writes each R-message to
// it (its header, then the rest, in a few Writes, one message at a time
// under the server's send lock) and replyWriter copies the bytes straight
// into the writable buffers of the chain the message's tag stands for, on
// the server's own goroutine: no reader goroutine, no intermediate buffer,
// Rread's data included. When a message is complete its chain goes back to
// the driver.
type replyWriter struct {
	s *session

	mu     sync.Mutex // everything below; Write holds it, so Close waits for one in progress
	closed bool

	hdr  [hdrSize]byte
	nhdr int

	// The message being written.
	it     uint16
	sl     slot   // a copy of its slot (the slot stays busy until finish)
	typ    uint8  // its type
	body   uint32 // bytes after the header
	off    uint32 // of those, written so far
	mode   int    // where the body goes
	rv     [4]byte
	failed bool // the chain could not be written (cannot happen)
}

// Where a body goes.
const (
	toChain   = iota // into the chain
	toNowhere        // unroutable: dropped
	tooBig           // larger than the chain: dropped, the guest gets Rlerror EMSGSIZE
)

var _ io.WriteCloser = (*replyWriter)(nil)

// Write implements io.Writer.
func (w *replyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	n := len(p)
	for len(p) > 0 {
		if w.nhdr < hdrSize {
			k := copy(w.hdr[w.nhdr:], p)
			w.nhdr += k
			p = p[k:]
			if w.nhdr == hdrSize {
				if err := w.start(); err != nil {
					w.closed = true
					w.s.d.fail(err)
					return 0, err
				}
				if w.body == 0 {
					w.end()
				}
			}
			continue
		}
		k := min(uint32(len(p)), w.body-w.off)
		w.consume(p[:k])
		p = p[k:]
		if w.off += k; w.off == w.body {
			w.end()
		}
	}
	return n, nil
}

// start begins a message whose header is complete. The error is a
// framing the server never produces.
func (w *replyWriter) start() error {
	size := binary.LittleEndian.Uint32(w.hdr[0:])
	w.typ = w.hdr[4]
	w.it = binary.LittleEndian.Uint16(w.hdr[5:])
	if size < hdrSize || size > MaxMessageSizeLimit {
		return fmt.Errorf("virtio-9p: the server sent a message of %d bytes", size)
	}
	w.body, w.off, w.failed = size-hdrSize, 0, false
	s := w.s
	s.mu.Lock()
	ok := int(w.it) < len(s.slots) && s.slots[w.it].busy
	if ok {
		w.sl = s.slots[w.it]
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.d.Stats.Unroutable.Add(1)
		w.mode = toNowhere
	case uint64(size) > w.sl.room:
		s.d.Stats.ReplyTooBig.Add(1)
		w.mode = tooBig
	default:
		w.mode = toChain
		binary.LittleEndian.PutUint16(w.hdr[5:], w.sl.tag)
		w.put(0, w.hdr[:])
	}
	return nil
}

// consume takes the next bytes of the body.
func (w *replyWriter) consume(p []byte) {
	if w.mode != toChain {
		return
	}
	if w.typ == P9_RVERSION && w.off < 4 {
		copy(w.rv[w.off:], p)
	}
	w.put(hdrSize+w.off, p)
}

func (w *replyWriter) put(off uint32, p []byte) {
	if !w.failed && virtio.WriteTo(w.s.mem, w.sl.bufs, uint64(off), p) != nil {
		w.failed = true // cannot happen: the buffers were checked at Pop
		w.s.d.Stats.Malformed.Add(1)
	}
}

// end completes a message: its chain goes back to the driver.
func (w *replyWriter) end() {
	w.nhdr = 0
	n := hdrSize + w.body
	var msize uint32
	switch w.mode {
	case toNowhere:
		return
	case tooBig:
		var r [rlerrorSize]byte
		putHeader(r[:], rlerrorSize, P9_RLERROR, w.sl.tag)
		binary.LittleEndian.PutUint32(r[hdrSize:], emsgsize)
		w.failed = false
		w.put(0, r[:])
		n = rlerrorSize
	default:
		if w.typ == P9_RVERSION && w.body >= 4 {
			msize = binary.LittleEndian.Uint32(w.rv[:])
		}
	}
	if w.failed {
		n = 0
	}
	if err := w.s.finish(w.it, n, w.typ, msize); err != nil {
		w.s.d.fail(fmt.Errorf("virtio-9p: %w", err))
	}
}

// Close implements io.Closer: stop and the server (when its connection
// ends) call it. After it, nothing is written to guest memory.
func (w *replyWriter) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.s.serverGone()
	return nil
}

// finish returns the chain of slot it with n bytes written, frees the slot
// and signals the driver. msize is an Rversion's. The error is an
// interrupt failure.
func (s *session) finish(it uint16, n uint32, typ uint8, msize uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := &s.slots[it]
	if sl.typ == P9_TVERSION {
		s.verCount--
		if typ == P9_RVERSION && msize >= MinMessageSize {
			s.msize = min(msize, s.d.max)
		}
	}
	if t, ok := s.byTag[sl.tag]; ok && t == it {
		delete(s.byTag, sl.tag)
	}
	sl.busy = false
	s.free = append(s.free, it)
	if s.idle != nil && len(s.free) == QueueSize {
		close(s.idle)
		s.idle = nil
	}
	s.q.PushUsed(sl.head, n)
	s.d.Stats.Replies.Add(1)
	return s.q.Signal()
}
