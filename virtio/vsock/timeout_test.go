package vsock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// shortTimeout is the handshake timeout these tests give the device: short
// for the tests' sake, long enough that the harness answers a REQUEST in
// time on a loaded machine.
const shortTimeout = 250 * time.Millisecond

// wantClosed waits for the device to close c: EOF (or a reset, for a
// client that left bytes unread) with nothing read, and not before min
// after since.
func wantClosed(t *testing.T, c net.Conn, since time.Time, min time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if (err != nil && !errors.Is(err, syscall.ECONNRESET)) || len(b) != 0 {
		t.Fatalf("client read %q, %v; want the device to close it", b, err)
	}
	if took := time.Since(since); took < min {
		t.Fatalf("closed after %v, before the %v timeout", took, min)
	}
}

// wantOpen checks that the device has not closed c: a read times out.
func wantOpen(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var b [1]byte
	if n, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes, %v; want the connection open and quiet", n, err)
	}
	_ = c.SetReadDeadline(time.Time{})
}

func dial(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A host client that connects and never completes its CONNECT line (says
// nothing, or half a line) is closed after ConnectTimeout and counted; a
// client that did complete the handshake is not affected.
func TestConnectTimeout(t *testing.T) {
	g := newGuestOpts(t, Options{ConnectTimeout: shortTimeout}, rxBufSize, rxBufs)
	good, r, hp := g.hostConnect(5)
	start := time.Now()
	silent := dial(t, g.path)
	partial := dial(t, g.path)
	if _, err := partial.Write([]byte("CONNECT 1")); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, silent, start, shortTimeout)
	wantClosed(t, partial, start, shortTimeout)
	if n := g.dev.Stats.ConnectTimeout.Load(); n != 2 {
		t.Errorf("ConnectTimeout %d, want 2", n)
	}
	if n := g.dev.Stats.BadConnect.Load(); n != 0 {
		t.Errorf("BadConnect %d, want 0", n)
	}
	waitConns(t, g.dev, 1)
	g.quiet(20 * time.Millisecond) // nothing for the guest: it never heard of them

	// Well past the timeout the established connection still carries data.
	time.Sleep(2 * shortTimeout)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 5, DstPort: hp}, []byte("still here"))
	if got := readN(t, good, r, 10); string(got) != "still here" {
		t.Fatalf("host got %q", got)
	}
	if n := g.dev.Stats.ConnectTimeout.Load(); n != 2 {
		t.Errorf("ConnectTimeout %d after the established connection idled, want 2", n)
	}
}

// Many clients that connect and stay silent: each is closed on time, and
// each freed its slot (MaxConns) for later clients.
func TestConnectTimeoutFreesSlots(t *testing.T) {
	const max = 4
	g := newGuestOpts(t, Options{ConnectTimeout: shortTimeout, MaxConns: max}, rxBufSize, rxBufs)
	for round := range 3 {
		start := time.Now()
		var cs []net.Conn
		for range max {
			cs = append(cs, dial(t, g.path))
		}
		for _, c := range cs {
			wantClosed(t, c, start, shortTimeout)
		}
		waitConns(t, g.dev, 0)
		if n := g.dev.Stats.ConnectTimeout.Load(); n != uint64(max*(round+1)) {
			t.Fatalf("round %d: ConnectTimeout %d", round, n)
		}
	}
	if n := g.dev.Stats.ConnCap.Load(); n != 0 {
		t.Errorf("ConnCap %d: slots were not freed", n)
	}
	g.hostConnect(1) // and a real client still gets through
}

// The guest never answers a host-initiated REQUEST: after RequestTimeout
// the client is closed without "OK" and the guest gets RST; a late
// RESPONSE then finds no connection (RST again). A REQUEST answered in
// time is not affected.
func TestRequestTimeout(t *testing.T) {
	g := newGuestOpts(t, Options{RequestTimeout: shortTimeout}, rxBufSize, rxBufs)
	good, r, hp := g.hostConnect(7)

	c := dial(t, g.path)
	asked := time.Now() // before the REQUEST, so before its deadline started
	if _, err := c.Write([]byte("CONNECT 80\n")); err != nil {
		t.Fatal(err)
	}
	p := g.expect(VIRTIO_VSOCK_OP_REQUEST, hp+1, 80)
	g.expect(VIRTIO_VSOCK_OP_RST, p.SrcPort, 80) // recv waits up to the harness timeout
	wantClosed(t, c, asked, shortTimeout)
	if n := g.dev.Stats.RequestTimeout.Load(); n != 1 {
		t.Errorf("RequestTimeout %d, want 1", n)
	}
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RESPONSE, SrcPort: 80, DstPort: p.SrcPort}, nil)
	g.expect(VIRTIO_VSOCK_OP_RST, p.SrcPort, 80)
	waitConns(t, g.dev, 1)

	time.Sleep(2 * shortTimeout)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 7, DstPort: hp}, []byte("alive"))
	if got := readN(t, good, r, 5); string(got) != "alive" {
		t.Fatalf("host got %q", got)
	}
	if n := g.dev.Stats.RequestTimeout.Load(); n != 1 {
		t.Errorf("RequestTimeout %d after the answered connection idled, want 1", n)
	}
}

// The guest's time to answer starts when the REQUEST reaches an rx buffer:
// a guest that posts none (still booting) does not time the client out.
func TestRequestTimeoutStartsAtDelivery(t *testing.T) {
	g := newGuestOpts(t, Options{RequestTimeout: shortTimeout}, rxBufSize, 0)
	c := dial(t, g.path)
	if _, err := c.Write([]byte("CONNECT 80\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * shortTimeout)
	wantOpen(t, c)
	for range 4 {
		g.postRx(g.d.Alloc(uint64(g.rxSize), 8))
	}
	g.rx.Notify()
	p := g.expect(VIRTIO_VSOCK_OP_REQUEST, firstLocalPort, 80)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RESPONSE, SrcPort: 80, DstPort: p.SrcPort}, nil)
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "OK "+itoa(p.SrcPort)+"\n" {
		t.Fatalf("handshake answer %q, %v", buf[:n], err)
	}
	if n := g.dev.Stats.RequestTimeout.Load(); n != 0 {
		t.Errorf("RequestTimeout %d", n)
	}
}

// A device reset while handshakes wait drops them (and their deadlines):
// nothing fires afterwards.
func TestTimeoutsAfterReset(t *testing.T) {
	g := newGuestOpts(t, Options{ConnectTimeout: shortTimeout, RequestTimeout: shortTimeout}, rxBufSize, rxBufs)
	silent := dial(t, g.path)
	c := dial(t, g.path)
	if _, err := c.Write([]byte("CONNECT 80\n")); err != nil {
		t.Fatal(err)
	}
	g.expect(VIRTIO_VSOCK_OP_REQUEST, firstLocalPort, 80)
	g.d.Reset()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after reset the client read %q, %v", b, err)
	}
	// The silent client is closed by the reset too (closeAll), or by its
	// deadline: either way it goes, and the counters stay sane.
	wantClosed(t, silent, time.Time{}, 0)
	time.Sleep(2 * shortTimeout)
	waitConns(t, g.dev, 0)
	if n := g.dev.Stats.RequestTimeout.Load(); n != 0 {
		t.Errorf("RequestTimeout %d after a reset", n)
	}
}

func TestOptionsRejected(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{{ConnectTimeout: -1}, {RequestTimeout: -time.Second}, {MaxConns: -1}} {
		if d, err := NewWithOptions(3, dir+"/a.sock", o); err == nil {
			_ = d.Close()
			t.Errorf("%+v accepted", o)
		}
	}
	d, err := NewWithOptions(3, dir+"/b.sock", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.opts.ConnectTimeout != DefaultConnectTimeout || d.opts.RequestTimeout != DefaultRequestTimeout || d.opts.MaxConns != MaxConns {
		t.Errorf("defaults %+v", d.opts)
	}
}
