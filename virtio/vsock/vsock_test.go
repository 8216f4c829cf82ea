package vsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
)

// These tests run the device against real Unix sockets with the
// Firecracker CONNECT handshake. The issue files them under the host tier
// ("vsock both directions against real Unix sockets"), but they need
// neither root nor KVM, so they run in the unit tier.

func TestConfigAndQueues(t *testing.T) {
	g := newGuest(t, MaxConns)
	cfg := g.d.Config(0, 8)
	if !bytes.Equal(cfg, []byte{testCID, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("config space % x", cfg)
	}
	if id := g.d.Reg(0x008); id != uint32(virtio.VIRTIO_ID_VSOCK) {
		t.Fatalf("device ID %d", id)
	}
	if b := g.d.Config(6, 4); !bytes.Equal(b, []byte{0, 0, 0, 0}) {
		t.Fatalf("config past the end % x", b)
	}
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	for _, cid := range []uint64{0, 1, 2, VMADDR_CID_ANY, 1 << 40} {
		if _, err := New(cid, dir+"/a.sock"); !errors.Is(err, ErrBadCID) {
			t.Errorf("CID %d: %v", cid, err)
		}
	}
	if _, err := New(3, dir+"/"+strings.Repeat("x", 120)); err == nil {
		t.Error("a path too long for sun_path was accepted")
	}
	d, err := New(3, dir+"/b.sock")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(4, dir+"/b.sock"); err == nil {
		t.Error("a second device on the same path was accepted")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/b.sock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// (1) host → guest: CONNECT, REQUEST, RESPONSE, OK, data both ways, clean
// shutdown.
func TestHostInitiated(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, hp := g.hostConnect(1024)

	if _, err := c.Write([]byte("hello guest")); err != nil {
		t.Fatal(err)
	}
	if got := g.recvData(hp, 1024, 11); string(got) != "hello guest" {
		t.Fatalf("guest got %q", got)
	}
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1024, DstPort: hp}, []byte("hello host"))
	if got := readN(t, c, r, 10); string(got) != "hello host" {
		t.Fatalf("host got %q", got)
	}

	// A bigger transfer, many packets each way.
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes
	go func() { _, _ = c.Write(big) }()
	if got := g.recvData(hp, 1024, len(big)); !bytes.Equal(got, big) {
		t.Fatal("host→guest data corrupted")
	}
	// The guest acknowledges with a credit update and sends back.
	g.send(hdr{Op: VIRTIO_VSOCK_OP_CREDIT_UPDATE, SrcPort: 1024, DstPort: hp}, nil)
	for off := 0; off < len(big); off += 60000 {
		g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1024, DstPort: hp}, big[off:min(off+60000, len(big))])
		if got := readN(t, c, r, min(60000, len(big)-off)); !bytes.Equal(got, big[off:min(off+60000, len(big))]) {
			t.Fatal("guest→host data corrupted")
		}
	}

	// The host client half-closes: the guest sees SHUTDOWN(SEND), can
	// still write; then the guest shuts down both halves: the host socket
	// is closed and the guest gets the RST its close waits for.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if p := g.expect(VIRTIO_VSOCK_OP_SHUTDOWN, hp, 1024); p.Flags != VIRTIO_VSOCK_SHUTDOWN_SEND {
		t.Fatalf("shutdown flags %d", p.Flags)
	}
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1024, DstPort: hp}, []byte("last words"))
	g.send(hdr{Op: VIRTIO_VSOCK_OP_SHUTDOWN, SrcPort: 1024, DstPort: hp, Flags: VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND}, nil)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "last words" {
		t.Fatalf("host read %q, %v before EOF", rest, err)
	}
	g.expect(VIRTIO_VSOCK_OP_RST, hp, 1024)
	waitConns(t, g.dev, 0)
	if g.dev.Stats.HostConns.Load() != 1 {
		t.Errorf("HostConns %d", g.dev.Stats.HostConns.Load())
	}
}

// waitConns waits until the device has n connections: closing is
// asynchronous to what the test sees.
func waitConns(t *testing.T, d *Device, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); d.Stats.Conns.Load() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", d.Stats.Conns.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// (2) guest → host: REQUEST to port 5000 reaches a listener on
// <uds>_5000; data both ways; the host closes first.
func TestGuestInitiated(t *testing.T) {
	g := newGuest(t, MaxConns)
	ln, err := net.Listen("unix", g.path+"_5000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g.send(hdr{Op: VIRTIO_VSOCK_OP_REQUEST, SrcPort: 1234, DstPort: 5000}, nil)
	g.expect(VIRTIO_VSOCK_OP_RESPONSE, 5000, 1234)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1234, DstPort: 5000}, []byte("ping"))
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("host got %q, %v", buf, err)
	}
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if got := g.recvData(5000, 1234, 4); string(got) != "pong" {
		t.Fatalf("guest got %q", got)
	}
	// The host closes: SHUTDOWN(SEND); the guest closes too; RST.
	c.Close()
	g.expect(VIRTIO_VSOCK_OP_SHUTDOWN, 5000, 1234)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_SHUTDOWN, SrcPort: 1234, DstPort: 5000, Flags: 3}, nil)
	g.expect(VIRTIO_VSOCK_OP_RST, 5000, 1234)
	waitConns(t, g.dev, 0)
}

// (3) nothing listening → RST; packets for unknown connections → RST; a
// RST for an unknown connection is not answered.
func TestRefused(t *testing.T) {
	g := newGuest(t, MaxConns)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_REQUEST, SrcPort: 1234, DstPort: 5001}, nil)
	g.expect(VIRTIO_VSOCK_OP_RST, 5001, 1234)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1234, DstPort: 5001}, []byte("x"))
	g.expect(VIRTIO_VSOCK_OP_RST, 5001, 1234)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RST, SrcPort: 1234, DstPort: 5001}, nil)
	g.quiet(50 * time.Millisecond)
	if n := g.dev.Stats.Refused.Load(); n != 1 {
		t.Errorf("Refused %d", n)
	}

	// The guest refuses a host connection: the client is closed.
	c, err := net.Dial("unix", g.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("connect 77\n")); err != nil {
		t.Fatal(err)
	}
	p := g.expect(VIRTIO_VSOCK_OP_REQUEST, firstLocalPort, 77)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RST, SrcPort: 77, DstPort: p.SrcPort}, nil)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("refused client read %q, %v", b, err)
	}
}

func TestBadConnectLine(t *testing.T) {
	g := newGuest(t, MaxConns)
	for _, line := range []string{"HELLO 5\n", "CONNECT\n", "CONNECT 99999999999\n", "CONNECT -1\n", strings.Repeat("A", 40)} {
		c, err := net.Dial("unix", g.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		// Closed: EOF, or a reset when unread bytes were left.
		if b, err := io.ReadAll(c); (err != nil && !errors.Is(err, syscall.ECONNRESET)) || len(b) != 0 {
			t.Errorf("%q: read %q, %v", line, b, err)
		}
		c.Close()
	}
	g.quiet(20 * time.Millisecond)
	if n := g.dev.Stats.BadConnect.Load(); n != 5 {
		t.Errorf("BadConnect %d", n)
	}
	waitConns(t, g.dev, 0)
}

// Header validation: each bad packet is counted and answered (or
// dropped), and the device goes on serving.
func TestBadPackets(t *testing.T) {
	g := newGuest(t, MaxConns)
	ok := hdr{SrcCID: testCID, DstCID: VMADDR_CID_HOST, Type: VIRTIO_VSOCK_TYPE_STREAM, Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1, DstPort: 2}
	mut := func(f func(*hdr)) hdr { h := ok; f(&h); return h }

	g.sendRaw(make([]byte, hdrSize-1), nil) // short
	g.send(mut(func(h *hdr) { h.SrcCID = 9 }), nil)
	g.quiet(20 * time.Millisecond) // both dropped
	g.send(mut(func(h *hdr) { h.DstCID = 5 }), nil)
	g.expect(VIRTIO_VSOCK_OP_RST, 2, 1)
	g.send(mut(func(h *hdr) { h.Type = VIRTIO_VSOCK_TYPE_SEQPACKET }), nil)
	g.expect(VIRTIO_VSOCK_OP_RST, 2, 1)
	g.send(mut(func(h *hdr) { h.Op = 99 }), nil)
	g.expect(VIRTIO_VSOCK_OP_RST, 2, 1)
	g.send(mut(func(h *hdr) { h.Len = 100 }), []byte("short"))
	g.expect(VIRTIO_VSOCK_OP_RST, 2, 1)
	g.send(mut(func(h *hdr) { h.Len = VIRTIO_VSOCK_MAX_PKT_BUF_SIZE + 1 }), make([]byte, VIRTIO_VSOCK_MAX_PKT_BUF_SIZE+1))
	g.expect(VIRTIO_VSOCK_OP_RST, 2, 1)
	st := &g.dev.Stats
	for name, n := range map[string]uint64{
		"BadHeader": st.BadHeader.Load(), "BadCID": st.BadCID.Load(), "BadType": st.BadType.Load(),
		"BadOp": st.BadOp.Load(), "BadLen": st.BadLen.Load(),
	} {
		want := uint64(1)
		if name == "BadCID" || name == "BadLen" {
			want = 2
		}
		if n != want {
			t.Errorf("%s = %d, want %d", name, n, want)
		}
	}

	// A bad packet on a live connection resets it.
	c, _, hp := g.hostConnect(9)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_REQUEST, SrcPort: 9, DstPort: hp}, nil)
	g.expect(VIRTIO_VSOCK_OP_RST, hp, 9)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	// Still serving.
	g.hostConnect(10)
}

// (5) credit: the device never sends more than the guest's buf_alloc
// allows, asks for credit once, and resumes on CREDIT_UPDATE.
func TestGuestCredit(t *testing.T) {
	g := newGuest(t, MaxConns)
	g.bufAlloc = 100
	c, _, hp := g.hostConnect(1)
	if _, err := c.Write(bytes.Repeat([]byte("x"), 350)); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 100 {
		got += int(g.expect(VIRTIO_VSOCK_OP_RW, hp, 1).Len)
	}
	if got != 100 {
		t.Fatalf("sent %d bytes on 100 of credit", got)
	}
	g.expect(VIRTIO_VSOCK_OP_CREDIT_REQUEST, hp, 1)
	g.quiet(50 * time.Millisecond)
	for want := 200; want <= 300; want += 100 {
		g.fwdCnt = uint32(got)
		g.send(hdr{Op: VIRTIO_VSOCK_OP_CREDIT_UPDATE, SrcPort: 1, DstPort: hp}, nil)
		for got < want {
			got += int(g.expect(VIRTIO_VSOCK_OP_RW, hp, 1).Len)
		}
		if got != want {
			t.Fatalf("sent %d bytes, credit for %d", got, want)
		}
		g.expect(VIRTIO_VSOCK_OP_CREDIT_REQUEST, hp, 1)
	}
	g.quiet(20 * time.Millisecond)
	g.fwdCnt = 300
	g.send(hdr{Op: VIRTIO_VSOCK_OP_CREDIT_UPDATE, SrcPort: 1, DstPort: hp}, nil)
	if p := g.expect(VIRTIO_VSOCK_OP_RW, hp, 1); p.Len != 50 {
		t.Fatalf("last packet %d bytes", p.Len)
	}

	// CREDIT_REQUEST is answered with our credit.
	g.send(hdr{Op: VIRTIO_VSOCK_OP_CREDIT_REQUEST, SrcPort: 1, DstPort: hp}, nil)
	if p := g.expect(VIRTIO_VSOCK_OP_CREDIT_UPDATE, hp, 1); p.BufAlloc != BufAlloc || p.FwdCnt != 0 {
		t.Fatalf("credit update %+v", p.hdr)
	}
}

// The guest overrunning the credit we gave (the host client not reading)
// has its connection reset; before that, CREDIT_UPDATEs tell it of space
// freed.
func TestHostCredit(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, hp := g.hostConnect(1)
	chunk := make([]byte, VIRTIO_VSOCK_MAX_PKT_BUF_SIZE)
	// Within credit, a reading host: the guest hears of freed space.
	for range 8 {
		g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1, DstPort: hp}, chunk)
		readN(t, c, r, len(chunk))
	}
	// At least one CREDIT_UPDATE (recv fails the test after its timeout).
	if p := g.recv(); p.Op != VIRTIO_VSOCK_OP_CREDIT_UPDATE || p.FwdCnt == 0 {
		t.Fatalf("want a CREDIT_UPDATE after 512 KiB through a 256 KiB buffer, got %+v", p.hdr)
	}
	g.poll()
	g.pkts = g.pkts[:0]
	// Now the host stops reading: the socket fills, then our buffer,
	// then the guest is over its credit.
	for i := 0; ; i++ {
		if i == 256 {
			t.Fatal("no RST after 16 MiB into a client that does not read")
		}
		g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1, DstPort: hp}, chunk)
		g.poll()
		if len(g.pkts) > 0 && g.pkts[len(g.pkts)-1].Op == VIRTIO_VSOCK_OP_RST {
			break
		}
	}
	if n := g.dev.Stats.OverCredit.Load(); n != 1 {
		t.Errorf("OverCredit %d", n)
	}
}

// (6) connection cap: beyond it host clients are closed and guest
// requests reset.
func TestConnCap(t *testing.T) {
	const max = 4
	g := newGuest(t, max)
	for i := range max {
		g.hostConnect(uint32(100 + i))
	}
	c, err := net.Dial("unix", g.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("client beyond the cap read %q, %v", b, err)
	}
	ln, err := net.Listen("unix", g.path+"_5000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g.send(hdr{Op: VIRTIO_VSOCK_OP_REQUEST, SrcPort: 1234, DstPort: 5000}, nil)
	g.expect(VIRTIO_VSOCK_OP_RST, 5000, 1234)
	if n := g.dev.Stats.ConnCap.Load(); n != 2 {
		t.Errorf("ConnCap %d", n)
	}
}

// A device reset closes every host socket; the listener stays and a new
// driver gets new connections.
func TestResetClosesSockets(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, _ := g.hostConnect(1)
	g.d.Reset()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Fatalf("after reset the client read %q, %v", b, err)
	}
	waitConns(t, g.dev, 0)
}

// Close closes the listener and the connections.
func TestCloseClosesSockets(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, _ := g.hostConnect(1)
	if err := g.d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.dev.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Fatalf("after Close the client read %q, %v", b, err)
	}
	if _, err := net.Dial("unix", g.path); err == nil {
		t.Fatal("the listener survived Close")
	}
}

// The guest half-closes (SHUTDOWN SEND): the host client reads EOF after
// the data and can still send to the guest.
func TestGuestHalfClose(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, hp := g.hostConnect(7)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 7, DstPort: hp}, []byte("request"))
	g.send(hdr{Op: VIRTIO_VSOCK_OP_SHUTDOWN, SrcPort: 7, DstPort: hp, Flags: VIRTIO_VSOCK_SHUTDOWN_SEND}, nil)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(r); err != nil || string(b) != "request" {
		t.Fatalf("host read %q, %v", b, err)
	}
	if _, err := c.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	if got := g.recvData(hp, 7, 8); string(got) != "response" {
		t.Fatalf("guest got %q", got)
	}
	c.Close()
	g.expect(VIRTIO_VSOCK_OP_SHUTDOWN, hp, 7)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_SHUTDOWN, SrcPort: 7, DstPort: hp, Flags: 3}, nil)
	g.expect(VIRTIO_VSOCK_OP_RST, hp, 7)
	waitConns(t, g.dev, 0)
}

// After a reset the listener still serves a re-initialised driver.
func TestReactivate(t *testing.T) {
	g := newGuest(t, MaxConns)
	g.hostConnect(1)
	g.d.Reset()
	waitConns(t, g.dev, 0)
	// The driver starts over on fresh rings.
	g.d.Init(^uint64(0))
	g.rx = g.d.SetupQueue(rxq, 256)
	g.tx = g.d.SetupQueue(txq, 256)
	g.d.SetupQueue(eventq, 8)
	g.d.DriverOK()
	g.rxAddr = map[uint16]guestmem.GPA{}
	for range 8 {
		g.postRx(g.d.Alloc(uint64(g.rxSize), 8))
	}
	g.rx.Notify()
	g.txMark = g.d.AllocMark()
	c, r, hp := g.hostConnect(2)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 2, DstPort: hp}, []byte("again"))
	if got := readN(t, c, r, 5); string(got) != "again" {
		t.Fatalf("host got %q", got)
	}
}

// A host client may send data right behind its CONNECT line: it is the
// stream's, delivered after the handshake.
func TestDataBehindConnectLine(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, err := net.Dial("unix", g.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("CONNECT 80\nGET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	p := g.expect(VIRTIO_VSOCK_OP_REQUEST, firstLocalPort, 80)
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RESPONSE, SrcPort: 80, DstPort: p.SrcPort}, nil)
	if got := g.recvData(p.SrcPort, 80, 18); string(got) != "GET / HTTP/1.0\r\n\r\n" {
		t.Fatalf("guest got %q", got)
	}
}
