package p9_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/hugelgupf/p9/linux"
	lib9p "github.com/hugelgupf/p9/p9"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// The test driver: p9's real client speaks 9P over chainConn, a net.Conn
// of sorts whose writes post request chains (the T-message readable, msize
// writable bytes for the reply) and whose reads return what the device put
// in the used buffers, as Linux's trans_virtio does.

var allFeatures = ^uint64(0)

// chainConn is an io.ReadWriteCloser over one virtio-9p request queue.
type chainConn struct {
	d     *vt.Driver
	q     *vt.Queue
	msize int

	mu          sync.Mutex // the harness's queue, the slots
	cond        *sync.Cond
	slots       []connSlot
	free        []int
	byHead      map[uint16]int
	outstanding int
	closed      bool
	err         error

	wbuf []byte // client bytes not yet a whole message
	rbuf []byte // the reader's copy of a reply
	pr   *io.PipeReader
	pw   *io.PipeWriter
	done chan struct{}
}

type connSlot struct {
	out, in guestmem.GPA
	reply   chan []byte // raw round trips get their reply here, not in the pipe
}

// newChainConn posts at most slots requests at a time, each with msize
// bytes each way.
func newChainConn(d *vt.Driver, q *vt.Queue, msize, slots int) *chainConn {
	c := &chainConn{d: d, q: q, msize: msize, byHead: map[uint16]int{}, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	for i := range slots {
		c.slots = append(c.slots, connSlot{out: d.Alloc(uint64(msize), 4096), in: d.Alloc(uint64(msize), 4096)})
		c.free = append(c.free, i)
	}
	c.pr, c.pw = io.Pipe()
	go c.reader()
	return c
}

// Write implements io.Writer: p9's client writes a message in pieces.
func (c *chainConn) Write(p []byte) (int, error) {
	c.wbuf = append(c.wbuf, p...)
	for len(c.wbuf) >= 4 {
		size := int(binary.LittleEndian.Uint32(c.wbuf))
		if size > c.msize || size < 7 {
			return 0, fmt.Errorf("chainConn: client message of %d bytes", size)
		}
		if len(c.wbuf) < size {
			break
		}
		if _, err := c.post(c.wbuf[:size], c.msize, nil); err != nil {
			return 0, err
		}
		c.wbuf = c.wbuf[size:]
	}
	return len(p), nil
}

// post copies msg into a free slot and posts it with room writable bytes;
// a non-nil reply channel gets the reply instead of the reader's pipe.
func (c *chainConn) post(msg []byte, room int, reply chan []byte) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.free) == 0 && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		return 0, io.ErrClosedPipe
	}
	i := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	sl := &c.slots[i]
	sl.reply = reply
	if err := c.d.Mem.WriteAt(msg, sl.out); err != nil {
		return 0, err
	}
	head := c.q.Add(vt.Buf{Addr: sl.out, Len: uint32(len(msg))}, vt.Buf{Addr: sl.in, Len: uint32(room), Write: true})
	c.byHead[head] = i
	c.outstanding++
	c.q.Notify()
	c.cond.Broadcast()
	return head, nil
}

// reader waits for used chains and hands their replies on.
func (c *chainConn) reader() {
	defer close(c.done)
	for {
		c.mu.Lock()
		for c.outstanding == 0 && !c.closed {
			c.cond.Wait()
		}
		if c.closed && c.outstanding == 0 {
			c.mu.Unlock()
			c.pw.CloseWithError(io.EOF)
			return
		}
		u, err := c.q.WaitErr() // holding mu: the queue is the harness's, not goroutine-safe
		if err != nil {
			c.err = err
			c.closed = true
			c.cond.Broadcast()
			c.mu.Unlock()
			c.pw.CloseWithError(err)
			return
		}
		i, ok := c.byHead[uint16(u.ID)]
		if !ok {
			c.err = fmt.Errorf("chainConn: used id %d was not posted", u.ID)
			c.closed = true
			c.mu.Unlock()
			c.pw.CloseWithError(c.err)
			return
		}
		delete(c.byHead, uint16(u.ID))
		sl := c.slots[i]
		if cap(c.rbuf) < int(u.Len) {
			c.rbuf = make([]byte, u.Len)
		}
		data := c.rbuf[:u.Len] // the pipe's Write returns once it is read: reused
		if sl.reply != nil {
			data = make([]byte, u.Len) // the receiver keeps it
		}
		if err := c.d.Mem.ReadAt(data, sl.in); err != nil {
			c.err = err
		}
		c.free = append(c.free, i)
		c.outstanding--
		c.cond.Broadcast()
		c.mu.Unlock()
		if sl.reply != nil {
			sl.reply <- data
			continue
		}
		if _, err := c.pw.Write(data); err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (c *chainConn) Read(p []byte) (int, error) { return c.pr.Read(p) }

// Close implements io.Closer: no more posts; the reader returns once the
// requests in flight came back.
func (c *chainConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	_ = c.pr.Close()
	<-c.done
	return c.err
}

// roundTrip posts one raw message with room writable bytes and returns the
// reply bytes.
func (c *chainConn) roundTrip(t testing.TB, msg []byte, room int) []byte {
	t.Helper()
	ch := make(chan []byte, 1)
	if _, err := c.post(msg, room, ch); err != nil {
		t.Fatal(err)
	}
	return <-ch
}

// share is a device over a directory, behind the harness.
type share struct {
	t    testing.TB
	dev  *p9.Device
	d    *vt.Driver
	q    *vt.Queue
	conn *chainConn
}

const testMsize = 64 << 10

func newShare(t testing.TB, dir string, opts p9.Options) *share {
	t.Helper()
	if opts.Tag == "" {
		opts.Tag = "rootfs"
	}
	dev, err := p9.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Error(err)
		}
	})
	d := vt.New(t, dev, vt.Options{MemSize: 64 << 20})
	d.Init(allFeatures)
	q := d.SetupQueue(0, p9.QueueSize)
	d.DriverOK()
	s := &share{t: t, dev: dev, d: d, q: q}
	s.conn = newChainConn(d, q, int(max(opts.MaxMessageSize, testMsize)), 16)
	t.Cleanup(func() {
		if err := s.conn.Close(); err != nil {
			t.Errorf("chain conn: %v", err)
		}
	})
	return s
}

// client negotiates with p9's client (msize testMsize) and attaches the
// root.
func (s *share) client() (*lib9p.Client, lib9p.File) {
	s.t.Helper()
	cl, err := lib9p.NewClient(s.conn, lib9p.WithMessageSize(testMsize))
	if err != nil {
		s.t.Fatal(err)
	}
	root, err := cl.Attach("")
	if err != nil {
		s.t.Fatal(err)
	}
	return cl, root
}

// enc builds raw 9P messages.
type enc []byte

func (e enc) u8(v uint8) enc   { return append(e, v) }
func (e enc) u16(v uint16) enc { return binary.LittleEndian.AppendUint16(e, v) }
func (e enc) u32(v uint32) enc { return binary.LittleEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc { return binary.LittleEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc { return append(e.u16(uint16(len(s))), s...) }

// msg returns a T-message: header (with the right size) and body.
func msg(typ uint8, tag uint16, body enc) []byte {
	b := make([]byte, 7, 7+len(body))
	binary.LittleEndian.PutUint32(b, uint32(7+len(body)))
	b[4] = typ
	binary.LittleEndian.PutUint16(b[5:], tag)
	return append(b, body...)
}

// reply is a parsed R-message header.
type reply struct {
	size uint32
	typ  uint8
	tag  uint16
	body []byte
}

func parse(t testing.TB, b []byte) reply {
	t.Helper()
	if len(b) < 7 {
		t.Fatalf("reply of %d bytes", len(b))
	}
	r := reply{size: binary.LittleEndian.Uint32(b), typ: b[4], tag: binary.LittleEndian.Uint16(b[5:]), body: b[7:]}
	if int(r.size) != len(b) {
		t.Fatalf("reply size field %d, used length %d", r.size, len(b))
	}
	return r
}

// ecode returns the errno of an Rlerror, failing on any other reply.
func (r reply) ecode(t testing.TB) uint32 {
	t.Helper()
	if r.typ != p9.P9_RLERROR || len(r.body) != 4 {
		t.Fatalf("reply type %d (%d bytes), want Rlerror", r.typ, len(r.body))
	}
	return binary.LittleEndian.Uint32(r.body)
}

// errnoOf is the errno of a client error (0 for nil, ^0 for an error
// without one).
func errnoOf(err error) linux.Errno {
	if err == nil {
		return 0
	}
	var e linux.Errno
	if errors.As(err, &e) {
		return e
	}
	return ^linux.Errno(0)
}
