package vsock

import (
	"bufio"
	"bytes"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

const (
	testCID   = 3
	rxBufSize = hdrSize + 4096 // Linux's rx buffer: header + VIRTIO_VSOCK_DEFAULT_RX_BUF_SIZE
	rxBufs    = 32
)

// guest plays the guest's virtio-vsock driver through the harness.
type guest struct {
	t        testing.TB
	dev      *Device
	d        *vt.Driver
	rx, tx   *vt.Queue
	ev       *vt.Queue               // the event queue: no buffers posted unless a test posts them
	rxAddr   map[uint16]guestmem.GPA // posted rx buffers by head
	rxSize   uint32
	txMark   guestmem.GPA
	pkts     []pkt // received, not consumed yet
	path     string
	fwdCnt   uint32 // what the guest reports consumed
	bufAlloc uint32
	cid      uint64 // the guest's CID (the config space's)
	empty    int    // rx buffers returned empty (Pause gives held ones back so)
}

// pkt is a packet as the guest received it.
type pkt struct {
	hdr
	data []byte
}

func newGuest(t testing.TB, maxConns int) *guest {
	return newGuestSized(t, maxConns, rxBufSize, rxBufs)
}

func newGuestSized(t testing.TB, maxConns int, bufSize uint32, nbufs int) *guest {
	t.Helper()
	return newGuestOpts(t, Options{MaxConns: maxConns}, bufSize, nbufs)
}

func newGuestOpts(t testing.TB, opts Options, bufSize uint32, nbufs int) *guest {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.sock")
	dev, err := newDevice(testCID, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the harness's, so it runs after the transport
	// was closed (cleanups run last-in first-out).
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Errorf("closing the device: %v", err)
		}
	})
	d := vt.New(t, dev, vt.Options{MemSize: 64 << 20})
	d.Init(^uint64(0))
	g := &guest{t: t, dev: dev, d: d, rxAddr: map[uint16]guestmem.GPA{}, rxSize: bufSize, path: path, bufAlloc: 1 << 20, cid: testCID}
	g.rx = d.SetupQueue(rxq, 256)
	g.tx = d.SetupQueue(txq, 256)
	g.ev = d.SetupQueue(eventq, 8)
	d.DriverOK()
	for range nbufs {
		g.postRx(d.Alloc(uint64(bufSize), 8))
	}
	g.rx.Notify()
	g.txMark = d.AllocMark()
	return g
}

func (g *guest) postRx(a guestmem.GPA) {
	head := g.rx.Add(vt.Buf{Addr: a, Len: g.rxSize, Write: true})
	g.rxAddr[head] = a
}

// recv returns the next packet the device sent, reposting its buffer.
func (g *guest) recv() pkt {
	g.t.Helper()
	for len(g.pkts) == 0 {
		g.take(g.rx.Wait())
	}
	p := g.pkts[0]
	g.pkts = g.pkts[1:]
	return p
}

// poll collects the packets already used without waiting.
func (g *guest) poll() {
	for {
		u, ok := g.rx.Next()
		if !ok {
			return
		}
		g.take(u)
	}
}

func (g *guest) take(u vt.Used) {
	g.t.Helper()
	a, ok := g.rxAddr[uint16(u.ID)]
	if !ok {
		g.t.Fatalf("used rx element %d: not a posted buffer", u.ID)
	}
	delete(g.rxAddr, uint16(u.ID))
	if u.Len == 0 {
		// A buffer the device held, given back at a Pause: Linux drops
		// it and posts another.
		g.empty++
		g.postRx(a)
		g.rx.Notify()
		return
	}
	if u.Len < hdrSize || u.Len > g.rxSize {
		g.t.Fatalf("used rx length %d", u.Len)
	}
	b := g.d.Bytes(a, int(u.Len))
	var p pkt
	p.decode((*[hdrSize]byte)(b))
	p.data = b[hdrSize:]
	if int(p.Len) != len(p.data) {
		g.t.Fatalf("packet len %d, used length says %d", p.Len, len(p.data))
	}
	if p.SrcCID != VMADDR_CID_HOST || p.DstCID != g.cid || p.Type != VIRTIO_VSOCK_TYPE_STREAM || p.BufAlloc != BufAlloc {
		g.t.Fatalf("bad packet header %+v", p.hdr)
	}
	g.pkts = append(g.pkts, p)
	g.postRx(a)
	g.rx.Notify()
}

// send sends a packet (header and payload in two descriptors, as Linux
// does) and waits until the device consumed it.
func (g *guest) send(h hdr, data []byte) {
	g.t.Helper()
	g.sendRaw(g.header(h, data), data)
}

// header completes h as send does and encodes it.
func (g *guest) header(h hdr, data []byte) []byte {
	if h.SrcCID == 0 {
		h.SrcCID = g.cid
	}
	if h.DstCID == 0 {
		h.DstCID = VMADDR_CID_HOST
	}
	if h.Type == 0 {
		h.Type = VIRTIO_VSOCK_TYPE_STREAM
	}
	if h.Len == 0 {
		h.Len = uint32(len(data))
	}
	if h.BufAlloc == 0 {
		h.BufAlloc = g.bufAlloc
	}
	if h.FwdCnt == 0 {
		h.FwdCnt = g.fwdCnt
	}
	var b [hdrSize]byte
	h.encode(&b)
	return b[:]
}

func (g *guest) sendRaw(head, data []byte) {
	g.t.Helper()
	g.d.AllocRelease(g.txMark)
	g.postRaw(head, data)
	if u := g.tx.Wait(); u.Len != 0 {
		g.t.Fatalf("tx used length %d", u.Len)
	}
}

// postRaw posts a tx packet and notifies the device, without waiting.
func (g *guest) postRaw(head, data []byte) {
	bufs := []vt.Buf{{Addr: g.d.Put(head), Len: uint32(len(head))}}
	if len(data) > 0 {
		bufs = append(bufs, vt.Buf{Addr: g.d.Put(data), Len: uint32(len(data))})
	}
	g.tx.Add(bufs...)
	g.tx.Notify()
}

// expect receives the next packet and checks its op and ports. Credit
// updates the device sends unasked are skipped unless op is one.
func (g *guest) expect(op uint16, local, peer uint32) pkt {
	g.t.Helper()
	p := g.recv()
	for op != VIRTIO_VSOCK_OP_CREDIT_UPDATE && p.Op == VIRTIO_VSOCK_OP_CREDIT_UPDATE {
		p = g.recv()
	}
	if p.Op != op || p.SrcPort != local || p.DstPort != peer {
		g.t.Fatalf("got op %d %d→%d (len %d flags %d), want op %d %d→%d", p.Op, p.SrcPort, p.DstPort, p.Len, p.Flags, op, local, peer)
	}
	return p
}

// quiet checks that the device sends nothing for a while.
func (g *guest) quiet(d time.Duration) {
	g.t.Helper()
	time.Sleep(d)
	g.poll()
	if len(g.pkts) > 0 {
		g.t.Fatalf("unexpected packet: op %d %d→%d len %d", g.pkts[0].Op, g.pkts[0].SrcPort, g.pkts[0].DstPort, g.pkts[0].Len)
	}
}

// hostConnect connects a client to the device's socket and completes the
// CONNECT handshake with the guest listening on port; it returns the
// client and the host port.
func (g *guest) hostConnect(port uint32) (*net.UnixConn, *bufio.Reader, uint32) {
	g.t.Helper()
	c, err := net.Dial("unix", g.path)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write([]byte("CONNECT " + itoa(port) + "\n")); err != nil {
		g.t.Fatal(err)
	}
	p := g.recv()
	if p.Op != VIRTIO_VSOCK_OP_REQUEST || p.DstPort != port || p.SrcPort < firstLocalPort {
		g.t.Fatalf("want REQUEST to %d, got %+v", port, p.hdr)
	}
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RESPONSE, SrcPort: port, DstPort: p.SrcPort}, nil)
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || line != "OK "+itoa(p.SrcPort)+"\n" {
		g.t.Fatalf("handshake answer %q, %v", line, err)
	}
	return c.(*net.UnixConn), r, p.SrcPort
}

func itoa(v uint32) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
		if v == 0 {
			return string(b)
		}
	}
}

// readN reads exactly n bytes from r.
func readN(t testing.TB, c net.Conn, r *bufio.Reader, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	for i := 0; i < n; {
		k, err := r.Read(b[i:])
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", i, n, err)
		}
		i += k
	}
	return b
}

// recvData collects RW payload for (local, peer) until n bytes arrived,
// acknowledging it in the guest's fwd_cnt as a reader would.
func (g *guest) recvData(local, peer uint32, n int) []byte {
	g.t.Helper()
	var out bytes.Buffer
	for out.Len() < n {
		p := g.expect(VIRTIO_VSOCK_OP_RW, local, peer)
		out.Write(p.data)
		g.fwdCnt += p.Len
	}
	if out.Len() != n {
		g.t.Fatalf("got %d bytes, want %d", out.Len(), n)
	}
	return out.Bytes()
}

var _ = virtio.VIRTIO_F_VERSION_1
