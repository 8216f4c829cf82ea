package net

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

const wait = 10 * time.Second

func TestConfigSpace(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	if id := g.d.Reg(vt.RegDeviceID); id != uint32(virtio.VIRTIO_ID_NET) {
		t.Fatalf("device ID %d", id)
	}
	cfg := g.d.Config(0, 16)
	want := []byte{0x02, 0, 0, 0xaa, 0xbb, 0xcc, VIRTIO_NET_S_LINK_UP, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(cfg, want) {
		t.Fatalf("config space % x, want % x", cfg, want)
	}
	// A 2-byte read of status, a read far past the end.
	var b [2]byte
	g.d.MMIO.Read(vt.RegConfig+cfgStatus, b[:])
	if binary.LittleEndian.Uint16(b[:]) != VIRTIO_NET_S_LINK_UP {
		t.Errorf("status % x", b)
	}
	g.d.MMIO.Read(vt.RegConfig+0xf00, b[:])
	if b != [2]byte{} {
		t.Errorf("config past the end % x", b)
	}
	// Writes change nothing.
	g.d.MMIO.Write(vt.RegConfig, []byte{0xff, 0xff, 0xff, 0xff})
	if got := g.d.Config(0, 6); !bytes.Equal(got, testMAC[:]) {
		t.Errorf("MAC after a config write % x", got)
	}
	for q, want := range []uint32{QueueSize, QueueSize, 0} {
		g.d.SetReg(vt.RegQueueSel, uint32(q))
		if n := g.d.Reg(vt.RegQueueNumMax); n != want {
			t.Errorf("queue %d: QueueNumMax %d, want %d", q, n, want)
		}
	}
	if m := g.dev.MAC(); m != testMAC {
		t.Errorf("MAC() %s", m)
	}
}

func TestNewRejectsBadMAC(t *testing.T) {
	for _, m := range []MAC{{}, {0x01, 0, 0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		be := newPair(t, 0)
		if _, err := New(be, Options{MAC: m}); !errors.Is(err, ErrBadMAC) {
			t.Errorf("MAC %s: %v", m, err)
		}
		if err := be.Close(); err != nil { // New closed it: a second Close is quiet
			t.Errorf("MAC %s: backend close: %v", m, err)
		}
	}
}

func TestFeatures(t *testing.T) {
	base := virtio.Bit(VIRTIO_NET_F_MAC) | virtio.Bit(VIRTIO_NET_F_STATUS) | virtio.Bit(VIRTIO_NET_F_MRG_RXBUF)
	csum := virtio.Bit(VIRTIO_NET_F_CSUM) | virtio.Bit(VIRTIO_NET_F_GUEST_CSUM)
	tso4 := virtio.Bit(VIRTIO_NET_F_HOST_TSO4) | virtio.Bit(VIRTIO_NET_F_GUEST_TSO4)
	tso6 := virtio.Bit(VIRTIO_NET_F_HOST_TSO6) | virtio.Bit(VIRTIO_NET_F_GUEST_TSO6)
	ecn := virtio.Bit(VIRTIO_NET_F_HOST_ECN) | virtio.Bit(VIRTIO_NET_F_GUEST_ECN)
	for _, c := range []struct {
		off  uint32
		want uint64
	}{
		{0, base},
		{TUN_F_TSO4, base}, // TSO without checksums means nothing
		{TUN_F_CSUM, base | csum},
		{TUN_F_CSUM | TUN_F_TSO4, base | csum | tso4},
		{TUN_F_CSUM | TUN_F_TSO_ECN, base | csum},
		{allOff, base | csum | tso4 | tso6 | ecn},
	} {
		if got := offeredFeatures(c.off); got != c.want {
			t.Errorf("offloads %#x: features %#x, want %#x", c.off, got, c.want)
		}
	}
	g := newGuest(t, guestOpts{want: fAll, offloads: TUN_F_CSUM})
	transport := virtio.Bit(virtio.VIRTIO_F_VERSION_1) | virtio.Bit(virtio.VIRTIO_RING_F_EVENT_IDX) | virtio.Bit(virtio.VIRTIO_RING_F_INDIRECT_DESC)
	if got := g.d.DeviceFeatures(); got != base|csum|transport {
		t.Errorf("device features %#x, want %#x", got, base|csum|transport)
	}
}

// The backend is told at activation which offloads the driver took, and
// at reset none.
func TestOffloadFollowsNegotiation(t *testing.T) {
	bit := virtio.Bit
	v1 := bit(virtio.VIRTIO_F_VERSION_1)
	for _, c := range []struct {
		name string
		want uint64
		off  uint32
	}{
		{"none", v1, 0},
		{"csum", v1 | bit(VIRTIO_NET_F_GUEST_CSUM), TUN_F_CSUM},
		{"tso4 without csum", v1 | bit(VIRTIO_NET_F_GUEST_TSO4), 0},
		{"tso4", v1 | bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4), TUN_F_CSUM | TUN_F_TSO4},
		{"all but MRG", fNoMRG, allOff},
		{"all, with MRG", fAll, allOff},
		{"host offloads only", v1 | bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, guestOpts{want: c.want, offloads: allOff})
			got, n := g.be.lastOffload()
			if got != c.off || n == 0 {
				t.Fatalf("backend offloads %#x after %d calls, want %#x", got, n, c.off)
			}
			g.d.Reset()
			if got, m := g.be.lastOffload(); got != 0 || m != n+1 {
				t.Fatalf("after reset: offloads %#x after %d calls", got, m)
			}
		})
	}
}

// A backend that refuses the offloads: NEEDS_RESET for the driver, a host
// error for the VMM.
func TestOffloadFailure(t *testing.T) {
	be := newPair(t, allOff)
	be.setErr = errors.New("no")
	var got []error
	dev, err := New(be, Options{MAC: testMAC, OnError: func(err error) { got = append(got, err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	d := vt.New(t, dev, vt.Options{HostErrors: func(error) {}})
	d.Init(fAll)
	d.SetupQueue(rxq, 8)
	d.SetupQueue(txq, 8)
	d.SetReg(vt.RegStatus, d.Status()|virtio.VIRTIO_CONFIG_S_DRIVER_OK)
	if d.Status()&virtio.VIRTIO_CONFIG_S_NEEDS_RESET == 0 {
		t.Errorf("status %#x: want NEEDS_RESET", d.Status())
	}
	if len(got) != 1 || dev.Err() == nil {
		t.Errorf("host errors %v, Err %v", got, dev.Err())
	}
}

func TestMissingQueue(t *testing.T) {
	be := newPair(t, 0)
	dev, err := New(be, Options{MAC: testMAC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	d := vt.New(t, dev, vt.Options{})
	d.Init(fAll)
	d.SetupQueue(txq, 8) // no rx queue
	d.SetReg(vt.RegStatus, d.Status()|virtio.VIRTIO_CONFIG_S_DRIVER_OK)
	if d.Status()&virtio.VIRTIO_CONFIG_S_NEEDS_RESET == 0 {
		t.Errorf("status %#x: want NEEDS_RESET", d.Status())
	}
}

func TestTx(t *testing.T) {
	for _, c := range []struct {
		name  string
		want  uint64
		split int
		size  int
	}{
		{"one descriptor", fAll, 0, 60},
		{"header apart", fAll, HdrLen, 1514},
		{"many descriptors", fMinimal, 7, 300},
		{"max frame", fAll, 4096, MaxFrame},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, guestOpts{want: c.want, offloads: allOff})
			hdr := netHdr(0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0, 0x5a5a) // num_buffers passes as is
			p := append(hdr, ethFrame(c.size, 3)...)
			g.txDone(g.sendTx(p, c.split))
			if got := g.be.recv(t, wait); !bytes.Equal(got, p) {
				t.Fatalf("backend got %d bytes, want the %d sent", len(got), len(p))
			}
			if n, b := g.dev.Stats.TxFrames.Load(), g.dev.Stats.TxBytes.Load(); n != 1 || b != uint64(c.size) {
				t.Errorf("TxFrames %d TxBytes %d", n, b)
			}
			g.noHostErr()
		})
	}
}

// Offloaded frames pass through with their header unchanged.
func TestTxOffloadHeaderPassesThrough(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll, offloads: allOff})
	for _, hdr := range [][]byte{
		netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 34, 6, 0),
		netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16, 0),
		netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6|VIRTIO_NET_HDR_GSO_ECN, 74, 1428, 54, 16, 0),
	} {
		p := append(hdr, ethFrame(4000, 1)...)
		g.txDone(g.sendTx(p, 1000))
		if got := g.be.recv(t, wait); !bytes.Equal(got, p) {
			t.Fatalf("header % x: backend got a different frame (header % x)", hdr, got[:min(len(got), HdrLen)])
		}
	}
}

// Hostile transmit chains are dropped and counted; the device goes on.
func TestTxHostile(t *testing.T) {
	g := newGuest(t, guestOpts{want: fMinimal | virtio.Bit(VIRTIO_NET_F_MRG_RXBUF), offloads: allOff})
	st := &g.dev.Stats
	good := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(64, 9)...)
	for _, c := range []struct {
		name    string
		p       []byte
		counter func() uint64
	}{
		{"empty", nil, st.TxShort.Load},
		{"short header", make([]byte, HdrLen-1), st.TxShort.Load},
		{"header only", netHdr(0, 0, 0, 0, 0, 0, 0), st.TxShort.Load},
		{"no Ethernet header", append(netHdr(0, 0, 0, 0, 0, 0, 0), 1, 2, 3), st.TxShort.Load},
		{"too big", append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(MaxFrame+1, 0)...), st.TxTooBig.Load},
		{"checksum not negotiated", append(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 14, 6, 0), ethFrame(64, 0)...), st.TxBadHeader.Load},
		{"TSO not negotiated", append(netHdr(0, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1000, 0, 0, 0), ethFrame(64, 0)...), st.TxBadHeader.Load},
		{"UFO", append(netHdr(0, VIRTIO_NET_HDR_GSO_UDP, 42, 1000, 0, 0, 0), ethFrame(64, 0)...), st.TxBadHeader.Load},
		{"ECN alone", append(netHdr(0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0, 0), ethFrame(64, 0)...), st.TxBadHeader.Load},
	} {
		before := c.counter()
		split := 5
		if len(c.p) > 1000 {
			split = 4096
		}
		g.txDone(g.sendTx(c.p, split))
		if c.counter() != before+1 {
			t.Errorf("%s: counter %d, want %d", c.name, c.counter(), before+1)
		}
	}
	// A device-writable tx chain has no readable bytes: short.
	head := g.tx.Add(vt.Buf{Addr: g.d.Alloc(100, 8), Len: 100, Write: true})
	g.tx.Notify()
	g.txDone(head)
	// A descriptor outside guest RAM: the transport fails the chain.
	ids := g.tx.Add(vt.Buf{Addr: 1 << 40, Len: 100})
	g.tx.Notify()
	if u := g.tx.Wait(); u.ID != uint32(ids) || u.Len != 0 {
		t.Fatalf("bad chain used %+v", u)
	}
	if n := g.d.MMIO.Counters().BadChain.Load(); n != 1 {
		t.Errorf("BadChain %d", n)
	}
	if _, ok := g.be.tryRecv(t, 50*time.Millisecond); ok {
		t.Fatal("a dropped frame reached the backend")
	}
	// Still working.
	g.txDone(g.sendTx(good, 0))
	if got := g.be.recv(t, wait); !bytes.Equal(got, good) {
		t.Fatal("good frame after the bad ones differs")
	}
	if st.TxFrames.Load() != 1 {
		t.Errorf("TxFrames %d", st.TxFrames.Load())
	}
	g.noHostErr()
}

// A backend that refuses a frame (a TAP that is down) costs the frame
// only.
func TestTxBackendRefuses(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	// Shut the peer's receiving side: writes fail with EPIPE.
	if err := shutdownRead(g.be.peer); err != nil {
		t.Fatal(err)
	}
	good := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(64, 9)...)
	g.txDone(g.sendTx(good, 0))
	if n := g.dev.Stats.TxDropped.Load(); n != 1 {
		t.Errorf("TxDropped %d", n)
	}
	g.noHostErr()
}

func TestRx(t *testing.T) {
	for _, c := range []struct {
		name string
		want uint64
		bufs []uint32 // the chain's buffers
		size int
	}{
		{"small buffers, no MRG", fNoMRG, []uint32{HdrLen + 1514}, 1514},
		{"header apart, no MRG", fNoMRG, []uint32{HdrLen, 1514}, 1514},
		{"MRG, one buffer", fAll, []uint32{4096}, 1000},
		{"no EVENT_IDX", fAll &^ virtio.Bit(virtio.VIRTIO_RING_F_EVENT_IDX), []uint32{2048}, 100},
		{"big chain, no MRG", fNoMRG, []uint32{HdrLen, 4096, 65536}, MaxFrame},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, guestOpts{want: c.want})
			g.postRx(c.bufs...)
			g.rx.Notify()
			f := ethFrame(c.size, 7)
			g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0xffff), f...))
			got, used := g.recvFrame()
			if len(used) != 1 || int(used[0].Len) != HdrLen+c.size {
				t.Fatalf("used %+v, want one element of %d bytes", used, HdrLen+c.size)
			}
			if !bytes.Equal(got[:HdrLen], netHdr(0, 0, 0, 0, 0, 0, 1)) {
				t.Errorf("header % x (num_buffers must be 1)", got[:HdrLen])
			}
			if !bytes.Equal(got[HdrLen:], f) {
				t.Error("frame differs")
			}
			if n, b := g.dev.Stats.RxFrames.Load(), g.dev.Stats.RxBytes.Load(); n != 1 || b != uint64(c.size) {
				t.Errorf("RxFrames %d RxBytes %d", n, b)
			}
			g.noHostErr()
		})
	}
}

// With MRG_RXBUF a frame larger than one buffer spans as few as hold it,
// in ring order, and num_buffers says how many.
func TestRxMergeable(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	g.postRxN(8, 1024)
	f := ethFrame(3000, 1)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), f...))
	got, used := g.recvFrame()
	if len(used) != 3 || used[0].Len != 1024 || used[1].Len != 1024 || used[2].Len != HdrLen+3000-2048 {
		t.Fatalf("used %+v", used)
	}
	if nb := binary.LittleEndian.Uint16(got[hdrNumBuffers:]); nb != 3 {
		t.Errorf("num_buffers %d", nb)
	}
	if !bytes.Equal(got[HdrLen:], f) {
		t.Error("frame differs")
	}
	// The next frame starts in the next buffer.
	f2 := ethFrame(100, 2)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), f2...))
	if got, used := g.recvFrame(); len(used) != 1 || !bytes.Equal(got[HdrLen:], f2) {
		t.Fatalf("second frame: used %+v", used)
	}
	// A maximal frame over chains of mixed sizes.
	for _, s := range []uint32{100, 5000, 3000, 60000, 1} {
		g.postRx(s)
	}
	g.rx.Notify()
	big := ethFrame(MaxFrame, 3)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), big...))
	if got, _ := g.recvFrame(); !bytes.Equal(got[HdrLen:], big) {
		t.Fatal("maximal frame differs")
	}
	// Of the first post, 4 buffers were used, 4 are left; then 5 more, of
	// which the 1-byte one is too short for a header.
	if n := g.dev.Stats.RxBadBuffer.Load(); n > 1 {
		t.Errorf("RxBadBuffer %d", n)
	}
	g.noHostErr()
}

// Without MRG_RXBUF a frame larger than the posted chain is dropped and
// counted; the chain takes the next frame that fits.
func TestRxTooBigForBuffer(t *testing.T) {
	g := newGuest(t, guestOpts{want: fNoMRG})
	g.postRx(HdrLen + 100)
	g.rx.Notify()
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(200, 0)...))
	small := ethFrame(100, 5)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), small...))
	got, _ := g.recvFrame()
	if !bytes.Equal(got[HdrLen:], small) {
		t.Fatal("the frame that fits differs")
	}
	if n := g.dev.Stats.RxTooBig.Load(); n != 1 {
		t.Errorf("RxTooBig %d", n)
	}
}

// With MRG_RXBUF a frame larger than all the buffers a full queue holds
// can never be delivered: dropped, and the buffers serve the next frame.
func TestRxMergeableNeverFits(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll, qsize: 4})
	g.postRxN(4, 64)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(1000, 0)...))
	small := ethFrame(100, 5)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), small...))
	got, used := g.recvFrame()
	if len(used) != 2 || !bytes.Equal(got[HdrLen:], small) {
		t.Fatalf("used %+v", used)
	}
	if n := g.dev.Stats.RxTooBig.Load(); n != 1 {
		t.Errorf("RxTooBig %d", n)
	}
}

// Frames longer than MaxFrame, shorter than a header, or offloaded beyond
// what the driver took are dropped and counted.
func TestRxBadFrames(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll, offloads: allOff})
	g.postRxN(8, 70000)
	st := &g.dev.Stats
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(MaxFrame+1, 0)...))
	g.be.send(t, make([]byte, HdrLen-1))
	g.be.send(t, append(netHdr(0, VIRTIO_NET_HDR_GSO_UDP, 0, 0, 0, 0, 0), ethFrame(100, 0)...))
	g.be.send(t, append(netHdr(0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0, 0), ethFrame(100, 0)...))
	// Flags the driver must not see are cleared, the checksum ones kept.
	f := ethFrame(100, 1)
	g.be.send(t, append(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM|VIRTIO_NET_HDR_F_RSC_INFO|0x80, 0, 0, 0, 14, 6, 0), f...))
	got, _ := g.recvFrame()
	if !bytes.Equal(got[:HdrLen], netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 14, 6, 1)) || !bytes.Equal(got[HdrLen:], f) {
		t.Fatalf("delivered header % x", got[:HdrLen])
	}
	if a, b := st.RxTooBig.Load(), st.RxBadFrame.Load(); a != 1 || b != 3 {
		t.Errorf("RxTooBig %d RxBadFrame %d", a, b)
	}
	g.noHostErr()
}

// A driver without GUEST_CSUM gets flags 0; a TSO frame it did not accept
// is dropped.
func TestRxNoGuestCsum(t *testing.T) {
	g := newGuest(t, guestOpts{want: fMinimal})
	g.postRxN(4, 2048)
	g.be.send(t, append(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1000, 34, 16, 0), ethFrame(100, 0)...))
	f := ethFrame(100, 1)
	g.be.send(t, append(netHdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 0), f...))
	got, _ := g.recvFrame()
	if !bytes.Equal(got[:HdrLen], netHdr(0, 0, 0, 0, 0, 0, 1)) || !bytes.Equal(got[HdrLen:], f) {
		t.Fatalf("delivered header % x", got[:HdrLen])
	}
	if n := g.dev.Stats.RxBadFrame.Load(); n != 1 {
		t.Errorf("RxBadFrame %d", n)
	}
}

// TSO frames reach a driver that took them unchanged: in one big chain
// without MRG_RXBUF, over many mergeable buffers (num_buffers of them,
// published together: recvFrame checks) with it.
func TestRxTSO(t *testing.T) {
	for _, c := range []struct {
		name  string
		want  uint64
		bufs  []uint32 // each posted as a chain of one buffer, or one chain without MRG
		frame int
	}{
		{"no MRG", fNoMRG, []uint32{HdrLen, 65536}, 30000},
		{"MRG", fAll, repeat(40, 1536), 30000},
		{"MRG, maximal", fAll, repeat(20, 4096), MaxFrame},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, guestOpts{want: c.want, offloads: allOff})
			if got, _ := g.be.lastOffload(); got != allOff {
				t.Fatalf("backend offloads %#x, want %#x", got, allOff)
			}
			nb := 1
			if g.has(VIRTIO_NET_F_MRG_RXBUF) {
				for _, s := range c.bufs {
					g.postRx(s)
				}
				nb = (HdrLen + c.frame + int(c.bufs[0]) - 1) / int(c.bufs[0])
			} else {
				g.postRx(c.bufs...)
			}
			g.rx.Notify()
			hdr := netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4|VIRTIO_NET_HDR_GSO_ECN, 54, 1448, 34, 16, 0)
			f := ethFrame(c.frame, 1)
			g.be.send(t, append(bytes.Clone(hdr), f...))
			got, used := g.recvFrame()
			binary.LittleEndian.PutUint16(hdr[hdrNumBuffers:], uint16(nb))
			if len(used) != nb || !bytes.Equal(got[:HdrLen], hdr) || !bytes.Equal(got[HdrLen:], f) {
				t.Fatalf("delivered header % x in %d buffers, want %d", got[:HdrLen], len(used), nb)
			}
			g.noHostErr()
		})
	}
}

// repeat returns n copies of size.
func repeat(n int, size uint32) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// Frames that arrive before the driver posts buffers wait (none is lost,
// order is kept); the driver's kick delivers them.
func TestRxWaitsForBuffers(t *testing.T) {
	for _, want := range []uint64{fAll, fAll &^ virtio.Bit(virtio.VIRTIO_RING_F_EVENT_IDX), fNoMRG} {
		g := newGuest(t, guestOpts{want: want})
		var frames [][]byte
		for i := range 5 {
			f := ethFrame(60+i, byte(i))
			frames = append(frames, f)
			g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), f...))
		}
		g.noRx(50 * time.Millisecond)
		for i, f := range frames {
			g.postRxN(1, 2048) // one at a time: each waits again
			got, _ := g.recvFrame()
			if !bytes.Equal(got[HdrLen:], f) {
				t.Fatalf("features %#x: frame %d differs", want, i)
			}
		}
		if n := g.dev.Stats.RxWaits.Load(); n < 1 {
			t.Errorf("features %#x: RxWaits %d", want, n)
		}
		if n := g.dev.Stats.RxTooBig.Load() + g.dev.Stats.RxBadFrame.Load(); n != 0 {
			t.Errorf("features %#x: %d frames dropped", want, n)
		}
		g.noHostErr()
	}
}

// Receive chains too short for the header are returned empty and counted.
func TestRxBadBuffers(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	bad := g.postRx(HdrLen - 1)
	// A chain whose only buffer is device-readable has no room at all.
	ro := g.rx.Add(vt.Buf{Addr: g.d.Alloc(64, 8), Len: 64})
	g.rxChains[ro] = nil
	good := g.postRx(2048)
	g.rx.Notify()
	f := ethFrame(100, 1)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), f...))
	seen := map[uint32]uint32{}
	for len(seen) < 3 {
		u := g.rx.Wait()
		seen[u.ID] = u.Len
	}
	if seen[uint32(bad)] != 0 || seen[uint32(ro)] != 0 || seen[uint32(good)] != HdrLen+100 {
		t.Fatalf("used %v", seen)
	}
	if n := g.dev.Stats.RxBadBuffer.Load(); n != 2 {
		t.Errorf("RxBadBuffer %d", n)
	}
}

// A driver that corrupts the receive ring gets NEEDS_RESET; the device
// survives a reset and works again.
func TestRxCorruptRingThenReset(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	g.rx.SetAvailIdx(1000) // more than the ring holds
	g.rx.Kick()
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(100, 0)...))
	deadline := time.Now().Add(wait)
	for g.d.Status()&virtio.VIRTIO_CONFIG_S_NEEDS_RESET == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("status %#x: no NEEDS_RESET", g.d.Status())
		}
		time.Sleep(time.Millisecond)
	}
	// Reset and start again: the frame held across the reset is gone.
	g.d.Reset()
	g.d.Init(fAll)
	g.rx = g.d.SetupQueue(rxq, 16)
	g.tx = g.d.SetupQueue(txq, 16)
	g.rxChains = map[uint16][]vt.Buf{}
	g.d.DriverOK()
	g.postRxN(4, 2048)
	f := ethFrame(200, 4)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), f...))
	if got, _ := g.recvFrame(); !bytes.Equal(got[HdrLen:], f) {
		t.Fatal("frame after the reset differs")
	}
	p := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(70, 1)...)
	g.txDone(g.sendTx(p, 0))
	if got := g.be.recv(t, wait); !bytes.Equal(got, p) {
		t.Fatal("tx after the reset differs")
	}
	g.noHostErr()
}

// The backend going away (end of stream) is a host error: reported once,
// and Kick returns it.
func TestBackendGone(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	if err := shutdownWrite(g.be.peer); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-g.errs:
	case <-time.After(wait):
		t.Fatal("no host error after the backend closed")
	}
	if g.dev.Err() == nil || g.dev.Kick(rxq) == nil {
		t.Errorf("Err %v after host error %v", g.dev.Err(), err)
	}
}

// Frames both ways at once, many of them, with the race detector
// watching the receive loop, the tx worker and the driver.
func TestBothWays(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll, offloads: allOff})
	const n = 300
	done := make(chan error, 1)
	go func() {
		for i := range n {
			f := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(60+i%1400, byte(i))...)
			if _, err := writeFrame(g.be.peer, f); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	g.postRxN(64, 2048)
	for i := range n {
		got, used := g.recvFrame()
		if want := ethFrame(60+i%1400, byte(i)); !bytes.Equal(got[HdrLen:], want) {
			t.Fatalf("rx frame %d differs", i)
		}
		for range used {
			g.postRx(2048)
		}
		g.rx.Notify()
		if i%3 == 0 {
			p := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(100+i, byte(i))...)
			g.txDone(g.sendTx(p, 50))
			if got := g.be.recv(t, wait); !bytes.Equal(got, p) {
				t.Fatalf("tx frame %d differs", i)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.noHostErr()
}
