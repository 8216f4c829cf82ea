package net

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// pairBackend is the unit tier's backend: a SOCK_SEQPACKET socket pair,
// which keeps frame boundaries as a TAP does. The device has one end
// (non-blocking); the test sends and receives frames on the other (peer).
type pairBackend struct {
	fd, peer int
	offloads uint32

	mu       sync.Mutex
	set      []uint32 // SetOffload calls, in order
	setErr   error    // what SetOffload returns
	closed   bool
	recvBuf  []byte
	closeErr error
}

var _ Backend = (*pairBackend)(nil)

func newPair(t testing.TB, offloads uint32) *pairBackend {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	// Room for a few maximal frames in flight each way.
	for _, fd := range fds {
		for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &pairBackend{fd: fds[0], peer: fds[1], offloads: offloads, recvBuf: make([]byte, 1<<17)}
}

func (p *pairBackend) FD() int { return p.fd }

func (p *pairBackend) Read(b []byte) (int, error) {
	n, err := unix.Read(p.fd, b)
	return max(n, 0), err
}

func (p *pairBackend) Write(iov [][]byte) (int, error) { return unix.Writev(p.fd, iov) }

func (p *pairBackend) Offloads() uint32 { return p.offloads }

func (p *pairBackend) SetOffload(f uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.setErr != nil {
		return p.setErr
	}
	p.set = append(p.set, f)
	return nil
}

// lastOffload returns the last SetOffload value and how many calls there were.
func (p *pairBackend) lastOffload() (uint32, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.set) == 0 {
		return 0, 0
	}
	return p.set[len(p.set)-1], len(p.set)
}

func (p *pairBackend) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return p.closeErr
	}
	p.closed = true
	p.closeErr = unix.Close(p.fd)
	if err := unix.Close(p.peer); p.closeErr == nil {
		p.closeErr = err
	}
	return p.closeErr
}

// send puts one frame (header included) into the device's backend.
func (p *pairBackend) send(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := unix.Write(p.peer, frame); err != nil {
		t.Fatalf("backend send: %v", err)
	}
}

// recv returns the next frame the device wrote, failing the test after d.
func (p *pairBackend) recv(t testing.TB, d time.Duration) []byte {
	t.Helper()
	b, ok := p.tryRecv(t, d)
	if !ok {
		t.Fatalf("no frame from the device within %v", d)
	}
	return b
}

// tryRecv is recv that reports a timeout instead of failing.
func (p *pairBackend) tryRecv(t testing.TB, d time.Duration) ([]byte, bool) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(p.peer), Events: unix.POLLIN}}
	for deadline := time.Now().Add(d); ; {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return nil, false
		}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return nil, false
		}
		m, err := unix.Read(p.peer, p.recvBuf)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(p.recvBuf[:m]), true
	}
}

// Feature sets the tests negotiate.
var (
	fAll     = ^uint64(0)
	fNoMRG   = ^virtio.Bit(VIRTIO_NET_F_MRG_RXBUF)
	fMinimal = virtio.Bit(virtio.VIRTIO_F_VERSION_1) | virtio.Bit(VIRTIO_NET_F_MAC)
	allOff   = uint32(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
	testMAC  = MAC{0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc}
)

// guest is a driver for the device over a pairBackend.
type guest struct {
	t      testing.TB
	be     *pairBackend
	dev    *Device
	d      *vt.Driver
	rx, tx *vt.Queue
	// rxChains are the posted rx chains' buffers, by head.
	rxChains map[uint16][]vt.Buf
	errs     chan error // host errors from the device and transport
}

type guestOpts struct {
	want     uint64 // features the driver accepts (∩ offered)
	offloads uint32 // the backend's
	qsize    uint16 // both queues; 0: QueueSize
}

func newGuest(t testing.TB, o guestOpts) *guest {
	t.Helper()
	if o.qsize == 0 {
		o.qsize = QueueSize
	}
	g := &guest{t: t, be: newPair(t, o.offloads), rxChains: map[uint16][]vt.Buf{}, errs: make(chan error, 16)}
	report := func(err error) {
		select {
		case g.errs <- err:
		default:
		}
	}
	dev, err := New(g.be, Options{MAC: testMAC, OnError: report})
	if err != nil {
		t.Fatal(err)
	}
	g.dev = dev
	// Registered before the harness's, so it runs after the transport
	// was closed (cleanups run last-in first-out).
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Errorf("closing the device: %v", err)
		}
	})
	g.d = vt.New(t, dev, vt.Options{MemSize: 32 << 20, HostErrors: report})
	g.d.Init(o.want)
	g.rx = g.d.SetupQueue(rxq, o.qsize)
	g.tx = g.d.SetupQueue(txq, o.qsize)
	g.d.DriverOK()
	return g
}

// has reports whether feature n was negotiated.
func (g *guest) has(n uint) bool { return g.d.Features&virtio.Bit(n) != 0 }

// postRx posts one device-writable chain of the given buffer sizes.
func (g *guest) postRx(sizes ...uint32) uint16 {
	var bufs []vt.Buf
	for _, s := range sizes {
		bufs = append(bufs, vt.Buf{Addr: g.d.Alloc(uint64(s), 8), Len: s, Write: true})
	}
	head := g.rx.Add(bufs...)
	g.rxChains[head] = bufs
	return head
}

// rxBytes returns the bytes the device wrote into used rx element u.
func (g *guest) rxBytes(u vt.Used) []byte {
	g.t.Helper()
	bufs, ok := g.rxChains[uint16(u.ID)]
	if !ok {
		g.t.Fatalf("used rx element %d: not a posted chain", u.ID)
	}
	var out []byte
	left := u.Len
	for _, b := range bufs {
		n := min(left, b.Len)
		out = append(out, g.d.Bytes(b.Addr, int(n))...)
		left -= n
	}
	if left != 0 {
		g.t.Fatalf("used rx element %d: length %d beyond the chain", u.ID, u.Len)
	}
	delete(g.rxChains, uint16(u.ID))
	return out
}

// postRxN posts n chains of one buffer of size bytes and notifies.
func (g *guest) postRxN(n int, size uint32) {
	for range n {
		g.postRx(size)
	}
	g.rx.Notify()
}

// recvFrame waits for the next received frame and returns it, header
// first, with the used elements it took (num_buffers of them). The
// device publishes a frame's elements together: once the first is
// there, so are the others (a polling driver such as Linux's drops the
// frame otherwise).
func (g *guest) recvFrame() ([]byte, []vt.Used) {
	g.t.Helper()
	u := g.rx.Wait()
	b := g.rxBytes(u)
	used := []vt.Used{u}
	if len(b) < HdrLen {
		g.t.Fatalf("rx element %d: %d bytes, shorter than the header", u.ID, len(b))
	}
	nb := int(binary.LittleEndian.Uint16(b[hdrNumBuffers:]))
	if nb < 1 || !g.has(VIRTIO_NET_F_MRG_RXBUF) && nb != 1 {
		g.t.Fatalf("num_buffers %d (MRG_RXBUF %v)", nb, g.has(VIRTIO_NET_F_MRG_RXBUF))
	}
	for i := range nb - 1 {
		u, ok := g.rx.Next()
		if !ok {
			g.t.Fatalf("buffer %d of %d not published with the first", i+2, nb)
		}
		used = append(used, u)
		b = append(b, g.rxBytes(u)...)
	}
	return b, used
}

// noRx checks that no rx element is used within d.
func (g *guest) noRx(d time.Duration) {
	g.t.Helper()
	time.Sleep(d)
	if u, ok := g.rx.Next(); ok {
		g.t.Fatalf("unexpected rx element %+v", u)
	}
}

// sendTx posts one tx chain holding p, split into descriptors of at most
// split bytes (0: one descriptor), and notifies.
func (g *guest) sendTx(p []byte, split int) uint16 {
	g.t.Helper()
	a := g.d.Put(p)
	var bufs []vt.Buf
	step := split
	if step <= 0 {
		step = max(len(p), 1)
	}
	for off := 0; off < len(p); off += step {
		bufs = append(bufs, vt.Buf{Addr: a + guestmem.GPA(off), Len: uint32(min(step, len(p)-off))})
	}
	if len(bufs) == 0 {
		bufs = append(bufs, vt.Buf{Addr: a, Len: 0})
	}
	head := g.tx.Add(bufs...)
	g.tx.Notify()
	return head
}

// txDone waits for tx chain head to come back, with length 0.
func (g *guest) txDone(head uint16) {
	g.t.Helper()
	u := g.tx.Wait()
	if u.ID != uint32(head) || u.Len != 0 {
		g.t.Fatalf("tx used %+v, want head %d length 0", u, head)
	}
}

// hostErr fails the test if the device reported a host error.
func (g *guest) noHostErr() {
	g.t.Helper()
	select {
	case err := <-g.errs:
		g.t.Fatalf("host error: %v", err)
	default:
	}
}

// netHdr builds a virtio_net_hdr_v1.
func netHdr(flags, gso uint8, hdrLen, gsoSize, csumStart, csumOff, numBuffers uint16) []byte {
	h := make([]byte, HdrLen)
	h[0], h[1] = flags, gso
	binary.LittleEndian.PutUint16(h[2:], hdrLen)
	binary.LittleEndian.PutUint16(h[4:], gsoSize)
	binary.LittleEndian.PutUint16(h[6:], csumStart)
	binary.LittleEndian.PutUint16(h[8:], csumOff)
	binary.LittleEndian.PutUint16(h[10:], numBuffers)
	return h
}

// ethFrame is an Ethernet frame of n bytes (n ≥ 14) to broadcast with an
// experimental EtherType (0x88b5) and a payload numbered from seed.
func ethFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], testMAC[:])
	f[12], f[13] = 0x88, 0xb5
	for i := 14; i < n; i++ {
		f[i] = seed + byte(i)
	}
	return f
}

func shutdownRead(fd int) error  { return unix.Shutdown(fd, unix.SHUT_RD) }
func shutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }

// writeFrame writes one frame, blocking.
func writeFrame(fd int, f []byte) (int, error) {
	for {
		n, err := unix.Write(fd, f)
		if err != unix.EINTR {
			return n, err
		}
	}
}
