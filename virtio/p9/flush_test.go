package p9_test

import (
	"testing"
	"time"

	p9 "github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// TestFlushRace: a Tflush made available together with the request it
// flushes, the way a guest task killed in the middle of a 9P request (a
// thread of an exiting process faulting in a page of an executable on the
// share) sends one. The request may be answered between the device's look
// at its tag and the Tflush taking a slot; the Tflush must still be
// answered, never forwarded under the tag it names (the p9 server would
// wait for itself).
func TestFlushRace(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	s.session(p9.DefaultMaxMessageSize)
	d, q := s.d, s.q
	d.Timeout = 3 * time.Second
	getattr := msg(p9.P9_TGETATTR, 7, enc{}.u32(1).u64(0x3fff))
	flush := msg(p9.P9_TFLUSH, 8, enc{}.u16(7))
	gIn, fIn := d.Put(getattr), d.Put(flush)
	gOut, fOut := d.Alloc(4096, 8), d.Alloc(4096, 8)
	n := 200
	if testing.Short() {
		n = 50
	}
	// Widen the window: the request is answered before the Tflush goes on.
	var before uint64
	p9.SetTestHookFlush(func() {
		for deadline := time.Now().Add(time.Second); s.dev.Stats.Replies.Load() == before && time.Now().Before(deadline); {
			time.Sleep(10 * time.Microsecond)
		}
	})
	t.Cleanup(func() { p9.SetTestHookFlush(nil) })
	for i := range n {
		before = s.dev.Stats.Replies.Load()
		q.Add(vt.Buf{Addr: gIn, Len: uint32(len(getattr))}, vt.Buf{Addr: gOut, Len: 4096, Write: true})
		fh := q.Add(vt.Buf{Addr: fIn, Len: uint32(len(flush))}, vt.Buf{Addr: fOut, Len: 4096, Write: true})
		q.Kick()
		for _, u := range q.WaitN(2) {
			if u.ID == uint32(fh) {
				if r := parse(t, d.Bytes(fOut, int(u.Len))); r.typ != p9.P9_RFLUSH || r.tag != 8 {
					t.Fatalf("round %d: Tflush answered with type %d tag %d", i, r.typ, r.tag)
				}
			}
		}
	}
}
