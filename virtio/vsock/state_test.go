package vsock

import (
	"bytes"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// TestPauseResume: while paused, host data does not reach the guest, a
// guest packet does not reach the host, and the rx buffers the muxer held
// come back empty (so a snapshot is possible); after Resume both
// directions go on, over the same connection.
func TestPauseResume(t *testing.T) {
	g := newGuest(t, MaxConns)
	c, r, hp := g.hostConnect(1024)
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if got := g.recvData(hp, 1024, 5); string(got) != "first" {
		t.Fatalf("guest got %q", got)
	}
	if err := g.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	// The read of "first" took a batch of rx buffers and used one: the
	// others were held, and are given back.
	g.poll()
	if g.empty == 0 {
		t.Error("Pause gave no held rx buffer back")
	}
	if _, err := g.d.MMIO.SaveState(); err != nil {
		t.Fatalf("SaveState while paused: %v", err)
	}
	irqs := g.d.IRQ.Count()
	if _, err := c.Write([]byte("while paused")); err != nil {
		t.Fatal(err)
	}
	g.postRaw(g.header(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1024, DstPort: hp}, []byte("to host")), []byte("to host"))
	g.quiet(30 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := r.Read(make([]byte, 16)); err == nil {
		t.Fatalf("host read %d bytes while paused", n)
	}
	if g.d.IRQ.Count() != irqs {
		t.Error("interrupt while paused")
	}
	g.d.Resume()
	if u := g.tx.Wait(); u.Len != 0 {
		t.Fatalf("tx used %+v", u)
	}
	if got := readN(t, c, r, 7); string(got) != "to host" {
		t.Fatalf("host got %q", got)
	}
	if got := g.recvData(hp, 1024, 12); string(got) != "while paused" {
		t.Fatalf("guest got %q", got)
	}
}

// restored returns a guest driving dev2 (CID cid, socket path2) behind a
// new transport over a copy of g's memory, restored from st and paused.
func (g *guest) restored(st virtio.MMIOState, cid uint64, path2 string) *guest {
	g.t.Helper()
	dev2, err := NewWithOptions(cid, path2, Options{})
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() {
		if err := dev2.Close(); err != nil {
			g.t.Errorf("closing the restored device: %v", err)
		}
	})
	d2 := g.d.Restore(g.t, dev2, st, vt.Options{})
	return &guest{
		t: g.t, dev: dev2, d: d2, rx: g.rx.On(d2), tx: g.tx.On(d2), ev: g.ev.On(d2),
		rxAddr: maps.Clone(g.rxAddr), rxSize: g.rxSize, txMark: g.txMark,
		path: path2, bufAlloc: g.bufAlloc, cid: cid, // fwdCnt 0: connections start over
	}
}

// TestSnapshotRestore: the restored device, on a new socket path with a
// new CID, puts TRANSPORT_RESET in the event buffer the driver posted
// before the snapshot; the old connection is gone and a new one works
// both ways.
func TestSnapshotRestore(t *testing.T) {
	g := newGuest(t, MaxConns)
	ev := g.postEvent(eventSize)
	c, r, hp := g.hostConnect(1024)
	if _, err := c.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	if got := g.recvData(hp, 1024, 6); string(got) != "before" {
		t.Fatalf("guest got %q", got)
	}
	g.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 1024, DstPort: hp}, []byte("back"))
	if got := readN(t, c, r, 4); string(got) != "back" {
		t.Fatalf("host got %q", got)
	}
	if err := g.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	st := g.d.Snapshot()

	g2 := g.restored(st, 7, filepath.Join(t.TempDir(), "restored.sock"))
	if err := g.d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.dev.Close(); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, c, time.Time{}, 0)
	if cfg := g2.d.Config(0, 8); !bytes.Equal(cfg, []byte{7, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("restored config space % x, want the new CID 7", cfg)
	}
	g2.d.Resume()
	g2.wantEvent(ev)
	if n := g2.dev.Stats.TransportResets.Load(); n != 1 {
		t.Errorf("TransportResets %d", n)
	}
	// After the reset, the guest (with its new CID) takes a new connection.
	c2, r2, hp2 := g2.hostConnect(2048)
	if _, err := c2.Write([]byte("after restore")); err != nil {
		t.Fatal(err)
	}
	if got := g2.recvData(hp2, 2048, 13); string(got) != "after restore" {
		t.Fatalf("guest got %q", got)
	}
	g2.send(hdr{Op: VIRTIO_VSOCK_OP_RW, SrcPort: 2048, DstPort: hp2}, []byte("hello"))
	if got := readN(t, c2, r2, 5); string(got) != "hello" {
		t.Fatalf("host got %q", got)
	}
	// A packet with the old CID is refused now.
	bad := g2.dev.Stats.BadCID.Load()
	g2.send(hdr{SrcCID: testCID, Op: VIRTIO_VSOCK_OP_RW, SrcPort: 2048, DstPort: hp2}, []byte("x"))
	if g2.dev.Stats.BadCID.Load() != bad+1 {
		t.Error("a packet from the old CID was not counted as BadCID")
	}
}

// TestRestoreWithoutEventBuffer: with no event buffer posted at the
// snapshot, the event waits for the driver's first one.
func TestRestoreWithoutEventBuffer(t *testing.T) {
	g := newGuest(t, MaxConns)
	g.hostConnect(1)
	st := g.d.Snapshot()
	g2 := g.restored(st, testCID, filepath.Join(t.TempDir(), "r.sock"))
	g2.d.Resume()
	g2.quiet(20 * time.Millisecond)
	ev := g2.postEvent(eventSize)
	g2.wantEvent(ev)
}

// TestRestoreRejects: corrupt device state is refused.
func TestRestoreRejects(t *testing.T) {
	g := newGuest(t, MaxConns)
	st := g.d.Snapshot()
	for _, c := range []struct {
		state []byte
		want  string
	}{
		{nil, "saved state"},
		{[]byte("]"), "saved state"},
		{[]byte(`{"Version":3}`), "version 3"},
	} {
		dev, err := NewWithOptions(testCID, filepath.Join(t.TempDir(), "x.sock"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := st
		s.Device = c.state
		d2 := g.d.Clone(t, dev, vt.Options{})
		if err := d2.MMIO.RestoreState(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("state %q: %v, want an error mentioning %q", c.state, err, c.want)
		}
		if err := d2.MMIO.Close(); err != nil {
			t.Fatal(err)
		}
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
