package net

import (
	"bytes"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// restored returns a guest driving dev2 over be2 behind a new transport
// over a copy of g's memory, restored from st (paused until Resume).
func (g *guest) restored(st virtio.MMIOState, be2 *pairBackend, opts Options) *guest {
	g.t.Helper()
	g2 := &guest{t: g.t, be: be2, rxChains: maps.Clone(g.rxChains), errs: g.errs}
	opts.OnError = func(err error) {
		select {
		case g.errs <- err:
		default:
		}
	}
	dev2, err := New(be2, opts)
	if err != nil {
		g.t.Fatal(err)
	}
	g2.dev = dev2
	g.t.Cleanup(func() {
		if err := dev2.Close(); err != nil {
			g.t.Errorf("closing the restored device: %v", err)
		}
	})
	g2.d = g.d.Restore(g.t, dev2, st, vt.Options{HostErrors: opts.OnError})
	g2.rx, g2.tx = g.rx.On(g2.d), g.tx.On(g2.d)
	return g2
}

// TestPauseResume: while paused, a frame from the backend is not
// delivered and a transmitted chain is not sent; both happen at Resume.
func TestPauseResume(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	g.postRxN(8, 2048)
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(60, 1)...))
	if f, _ := g.recvFrame(); !bytes.Equal(f[HdrLen:], ethFrame(60, 1)) {
		t.Fatal("frame before the pause")
	}
	if err := g.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	irqs := g.d.IRQ.Count()
	g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(70, 2)...))
	head := g.sendTx(append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(80, 3)...), 0)
	if _, ok := g.be.tryRecv(t, 30*time.Millisecond); ok {
		t.Fatal("a frame was transmitted while paused")
	}
	g.noRx(10 * time.Millisecond)
	if g.d.IRQ.Count() != irqs {
		t.Fatal("interrupt while paused")
	}
	g.d.Resume()
	if f := g.be.recv(t, wait); !bytes.Equal(f[HdrLen:], ethFrame(80, 3)) {
		t.Fatal("transmitted frame after Resume")
	}
	g.txDone(head)
	if f, _ := g.recvFrame(); !bytes.Equal(f[HdrLen:], ethFrame(70, 2)) {
		t.Fatal("received frame after Resume")
	}
	g.noHostErr()
}

// TestPauseGivesBackHeldChains: a frame larger than the buffers posted
// holds them (MRG_RXBUF); Pause returns them empty, so the queue's
// indices match guest memory and a snapshot is possible, and the frame
// is delivered after Resume into new buffers.
func TestPauseGivesBackHeldChains(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll})
	g.postRxN(2, 256)
	frame := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(1000, 4)...)
	g.be.send(t, frame)
	g.noRx(30 * time.Millisecond) // the frame waits, holding both chains
	if err := g.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		u, ok := g.rx.Next()
		if !ok || u.Len != 0 {
			t.Fatalf("held chain not given back empty: %+v %v", u, ok)
		}
		delete(g.rxChains, uint16(u.ID))
	}
	if _, err := g.d.MMIO.SaveState(); err != nil {
		t.Fatalf("SaveState with no chain held: %v", err)
	}
	g.d.Resume()
	g.postRxN(4, 512)
	if f, used := g.recvFrame(); !bytes.Equal(f[HdrLen:], frame[HdrLen:]) || len(used) != 2 {
		t.Fatalf("frame after Resume: %d bytes in %d buffers", len(f), len(used))
	}
	g.noHostErr()
}

// TestSnapshotRestore: a restored device on a new backend keeps the MAC
// the guest knows (not the one it was created with), receives into the
// buffers posted before the snapshot at the saved ring positions, and
// transmits on the new backend.
func TestSnapshotRestore(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll, offloads: allOff})
	g.postRxN(8, 2048)
	for i := range 3 {
		g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(60, byte(i))...))
		g.recvFrame()
		g.txDone(g.sendTx(append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(64, byte(i))...), 0))
		g.be.recv(t, wait)
	}
	if err := g.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	head := g.sendTx(append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(90, 9)...), 0) // notified, in the snapshot
	st := g.d.Snapshot()

	be2 := newPair(t, allOff)
	other := MAC{0x02, 1, 2, 3, 4, 5}
	g2 := g.restored(st, be2, Options{MAC: other})
	if err := g.d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if got := g2.d.Config(0, 6); !bytes.Equal(got, testMAC[:]) {
		t.Errorf("restored MAC % x, want the guest's % x", got, testMAC[:])
	}
	if off, n := be2.lastOffload(); n != 1 || off != allOff {
		t.Errorf("new backend offloads %#x after %d calls", off, n)
	}
	g2.d.Resume()
	if f := be2.recv(t, wait); !bytes.Equal(f[HdrLen:], ethFrame(90, 9)) {
		t.Fatal("frame notified before the snapshot not sent on the new backend")
	}
	g2.txDone(head)
	if got := g2.tx.UsedIdx(); got != 4 {
		t.Errorf("tx used.idx %d, want 4", got)
	}
	be2.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(100, 7)...))
	f, used := g2.recvFrame()
	if !bytes.Equal(f[HdrLen:], ethFrame(100, 7)) {
		t.Fatal("frame received after restore")
	}
	if got := g2.rx.UsedIdx(); got != 4 || len(used) != 1 {
		t.Errorf("rx used.idx %d, want 4", got)
	}
	if _, ok := g.be.tryRecv(t, 10*time.Millisecond); ok {
		t.Error("the old backend got a frame after the restore")
	}
	g.noHostErr()
}

// TestRestoreRejects: a backend without the offloads the driver
// accepted, and corrupt device state, are refused.
func TestRestoreRejects(t *testing.T) {
	g := newGuest(t, guestOpts{want: fAll, offloads: allOff})
	st := g.d.Snapshot()
	for _, c := range []struct {
		name string
		off  uint32
		dev  []byte
		want string
	}{
		{"backend without offloads", 0, st.Device, "does not offer"},
		{"garbage", allOff, []byte("{"), "saved state"},
		{"version", allOff, []byte(`{"Version":2,"MAC":"02:00:00:aa:bb:cc"}`), "version 2"},
		{"multicast MAC", allOff, []byte(`{"Version":1,"MAC":"01:00:00:aa:bb:cc"}`), "MAC"},
		{"no MAC", allOff, []byte(`{"Version":1}`), "MAC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := st
			s.Device = c.dev
			dev, err := New(newPair(t, c.off), Options{MAC: testMAC})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			d2 := g.d.Clone(t, dev, vt.Options{})
			if err := d2.MMIO.RestoreState(s); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("RestoreState: %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}
