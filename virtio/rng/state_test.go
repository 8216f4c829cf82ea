package rng_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hullvm/hull/virtio/rng"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// TestSnapshotRestore: the entropy device keeps no state of its own; a
// request notified before the snapshot is served by the restored device
// at the next used index, and Pause holds requests back until Resume.
func TestSnapshotRestore(t *testing.T) {
	d := vt.New(t, rng.New(), vt.Options{})
	d.Init(^uint64(0))
	q := d.SetupQueue(0, 16)
	d.DriverOK()
	fill := func() uint16 {
		h := q.Add(vt.Buf{Addr: d.Alloc(32, 8), Len: 32, Write: true})
		q.Kick()
		return h
	}
	for range 3 {
		h := fill()
		if u := q.Wait(); u.ID != uint32(h) || u.Len != 32 {
			t.Fatalf("used %+v", u)
		}
	}

	// Pause without a snapshot: the request waits for Resume.
	if err := d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	h := fill()
	time.Sleep(20 * time.Millisecond)
	if q.UsedIdx() != 3 {
		t.Fatal("served while paused")
	}
	d.Resume()
	if u := q.Wait(); u.ID != uint32(h) {
		t.Fatalf("used %+v", u)
	}

	if err := d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	a := d.Alloc(64, 8)
	h = q.Add(vt.Buf{Addr: a, Len: 64, Write: true})
	q.Kick()
	st := d.Snapshot()
	if st.Device != nil {
		t.Errorf("rng saved %d bytes of device state", len(st.Device))
	}
	d2 := d.Restore(t, rng.New(), st, vt.Options{})
	q2 := q.On(d2)
	d2.Resume()
	if u := q2.Wait(); u.ID != uint32(h) || u.Len != 64 {
		t.Fatalf("used after restore %+v", u)
	}
	if bytes.Equal(d2.Bytes(a, 64), make([]byte, 64)) {
		t.Error("the restored device left the buffer zero")
	}
	if !bytes.Equal(d.Bytes(a, 64), make([]byte, 64)) {
		t.Error("the restored device wrote the original's memory")
	}
	if got := q2.UsedIdx(); got != 5 {
		t.Errorf("used.idx %d, want 5", got)
	}
}
