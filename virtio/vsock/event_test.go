package vsock

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// postEvent posts one event buffer of n bytes and returns its address.
func (g *guest) postEvent(n uint32) guestmem.GPA {
	a := g.d.Alloc(uint64(max(n, 8)), 8)
	g.ev.Add(vt.Buf{Addr: a, Len: n, Write: true})
	g.ev.Notify()
	return a
}

// wantEvent waits for the event buffer at a to come back holding
// VIRTIO_VSOCK_EVENT_TRANSPORT_RESET.
func (g *guest) wantEvent(a guestmem.GPA) {
	g.t.Helper()
	u := g.ev.Wait()
	if u.Len != eventSize {
		g.t.Fatalf("event used length %d, want %d", u.Len, eventSize)
	}
	if id := binary.LittleEndian.Uint32(g.d.Bytes(a, 4)); id != VIRTIO_VSOCK_EVENT_TRANSPORT_RESET {
		g.t.Fatalf("event id %d", id)
	}
}

// TransportReset: the guest gets the event, every connection's host
// socket is closed without a RST to the guest (it resets its sockets
// itself), and new connections work afterwards.
func TestTransportReset(t *testing.T) {
	g := newGuest(t, MaxConns)
	ev := g.postEvent(eventSize)
	c1, _, _ := g.hostConnect(1)
	c2, _, _ := g.hostConnect(2)
	pending := dial(t, g.path) // still writing its CONNECT line: it stays

	if err := g.dev.TransportReset(); err != nil {
		t.Fatal(err)
	}
	g.wantEvent(ev)
	for _, c := range []net.Conn{c1, c2} {
		wantClosed(t, c, time.Time{}, 0)
	}
	g.quiet(30 * time.Millisecond) // no RST for the guest
	if n := g.dev.Stats.TransportResets.Load(); n != 1 {
		t.Errorf("TransportResets %d", n)
	}
	waitConns(t, g.dev, 1)

	// The client that was not connected yet goes on as usual.
	if _, err := pending.Write([]byte("CONNECT 3\n")); err != nil {
		t.Fatal(err)
	}
	p := g.expect(VIRTIO_VSOCK_OP_REQUEST, firstLocalPort+2, 3)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RESPONSE, SrcPort: 3, DstPort: p.SrcPort}, nil)
	buf := make([]byte, 32)
	_ = pending.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := pending.Read(buf); err != nil || string(buf[:n]) != "OK "+itoa(p.SrcPort)+"\n" {
		t.Fatalf("handshake answer %q, %v", buf[:n], err)
	}
	// And so does a new one.
	c, r, hp := g.hostConnect(4)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 4, DstPort: hp}, []byte("after"))
	if got := readN(t, c, r, 5); string(got) != "after" {
		t.Fatalf("host got %q", got)
	}
}

// Without an event buffer the event waits for one; a buffer too short for
// an event is returned empty and counted, and the next one gets it.
func TestTransportResetWaitsForBuffer(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, _ := g.hostConnect(1)
	if err := g.dev.TransportReset(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Fatalf("after the transport reset the client read %q, %v", b, err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := g.dev.Stats.TransportResets.Load(); n != 0 {
		t.Fatalf("TransportResets %d with no event buffer", n)
	}
	g.postEvent(2)
	if u := g.ev.Wait(); u.Len != 0 {
		t.Fatalf("short event buffer used length %d", u.Len)
	}
	if n := g.dev.Stats.BadEventBuffer.Load(); n != 1 {
		t.Errorf("BadEventBuffer %d", n)
	}
	g.wantEvent(g.postEvent(16))
	// One event per TransportReset: a buffer posted now stays.
	g.postEvent(eventSize)
	time.Sleep(20 * time.Millisecond)
	if _, ok := g.ev.Next(); ok {
		t.Fatal("a second event without a second TransportReset")
	}
	if n := g.dev.Stats.TransportResets.Load(); n != 1 {
		t.Errorf("TransportResets %d", n)
	}
}

// With the driver reset (not running) TransportReset does nothing and the
// next driver gets no stale event; on a closed device it fails.
func TestTransportResetInactive(t *testing.T) {
	g := newGuest(t, MaxConns)
	g.d.Reset()
	if err := g.dev.TransportReset(); err != nil {
		t.Fatal(err)
	}
	g.d.Init(^uint64(0))
	g.rx = g.d.SetupQueue(rxq, 256)
	g.tx = g.d.SetupQueue(txq, 256)
	g.ev = g.d.SetupQueue(eventq, 8)
	g.d.DriverOK()
	g.postEvent(eventSize)
	time.Sleep(20 * time.Millisecond)
	if _, ok := g.ev.Next(); ok {
		t.Fatal("an event for a driver that started after the transport reset")
	}
	if err := g.d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.dev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.dev.TransportReset(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TransportReset after Close: %v", err)
	}
}
