package virtio_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// echo posts "msg" and room for it, kicks through kick, and returns the
// head and the address of the writable buffer.
func post(d *vt.Driver, q *vt.Queue, msg string) (uint16, guestmem.GPA) {
	in := d.Put([]byte(msg))
	out := d.Alloc(uint64(len(msg)), 8)
	head := q.Add(vt.Buf{Addr: in, Len: uint32(len(msg))}, vt.Buf{Addr: out, Len: uint32(len(msg)), Write: true})
	return head, out
}

func wantEcho(t *testing.T, d *vt.Driver, q *vt.Queue, head uint16, out guestmem.GPA, msg string) {
	t.Helper()
	u := q.Wait()
	if u.ID != uint32(head) || u.Len != uint32(len(msg)) {
		t.Fatalf("used %+v, want id %d len %d", u, head, len(msg))
	}
	if got := string(d.Bytes(out, len(msg))); got != msg {
		t.Fatalf("device wrote %q, want %q", got, msg)
	}
}

// quiet checks that nothing reaches the used ring or the interrupt for a
// while.
func quiet(t *testing.T, d *vt.Driver, q *vt.Queue, irqs uint64) {
	t.Helper()
	time.Sleep(30 * time.Millisecond)
	if n := d.IRQ.Count(); n != irqs {
		t.Errorf("%d interrupts while paused", n-irqs)
	}
	if _, ok := q.Next(); ok {
		t.Fatal("the device returned a chain while paused")
	}
}

// TestPauseResume: a request posted and notified (through QueueNotify
// and through the eventfd, as an ioeventfd would) while the transport is
// paused is served after Resume; nothing happens before.
func TestPauseResume(t *testing.T) {
	dev := newLoopDev(16)
	d := vt.New(t, dev, vt.Options{})
	d.Init(fVersion1 | fEventIdx)
	q := d.SetupQueue(0, 16)
	d.DriverOK()
	h, out := post(d, q, "before")
	q.Kick()
	wantEcho(t, d, q, h, out, "before")

	for round, kick := range []func(){q.Kick, q.KickEventFD} {
		if err := d.MMIO.Pause(); err != nil {
			t.Fatal(err)
		}
		if err := d.MMIO.Pause(); err != nil { // twice: no-op
			t.Fatal(err)
		}
		if !d.MMIO.Paused() {
			t.Fatal("Paused() false after Pause")
		}
		irqs := d.IRQ.Count()
		h, out := post(d, q, "while paused")
		kick()
		quiet(t, d, q, irqs)
		d.Resume()
		wantEcho(t, d, q, h, out, "while paused")
		if err := d.MMIO.Resume(); err != nil { // twice: no-op
			t.Fatal(round, err)
		}
	}
	if _, err := d.MMIO.SaveState(); !errors.Is(err, virtio.ErrNotPaused) {
		t.Errorf("SaveState on a running transport: %v", err)
	}
}

// TestActivateWhilePaused: a driver that sets DRIVER_OK while the
// transport is paused gets a device that starts at Resume.
func TestActivateWhilePaused(t *testing.T) {
	dev := newLoopDev(16)
	d := vt.New(t, dev, vt.Options{})
	if err := d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	d.Init(fVersion1)
	q := d.SetupQueue(0, 16)
	d.DriverOK()
	if !dev.ctxPaused() {
		t.Error("the device was not told it starts paused")
	}
	h, out := post(d, q, "x")
	q.Kick()
	quiet(t, d, q, 0)
	d.Resume()
	wantEcho(t, d, q, h, out, "x")
}

// TestSnapshotRestore: a conversation saved, restored into a new device
// and transport over a copy of guest memory (the original memory wiped and
// its transport closed, so nothing can be shared), and continued: a
// request left notified in the snapshot is served, the used index goes
// on from where it was, the restored transport raises one interrupt at
// Resume, and new requests work.
func TestSnapshotRestore(t *testing.T) {
	dev := newLoopDev(16, 8)
	d := vt.New(t, dev, vt.Options{})
	d.Init(fVersion1 | fEventIdx | fIndirect)
	q := d.SetupQueue(0, 16)
	d.DriverOK()
	for i := range 21 { // wrap the 16-entry ring once
		h, out := post(d, q, "ping")
		q.Kick()
		wantEcho(t, d, q, h, out, "ping")
		_ = i
	}
	if err := d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	pendHead, pendOut := post(d, q, "in the snapshot")
	q.Kick() // the eventfd of the old transport: lost with it; the restored one kicks at Resume

	st := d.Snapshot()
	if !st.Active || st.Queues[0].NextUsed != 21 || st.Queues[0].NextAvail != 21 || st.Queues[1].Active {
		t.Fatalf("saved state %+v", st)
	}
	d2 := d.Restore(t, newLoopDev(16, 8), st, vt.Options{})
	if err := d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Mem.Zero(0, d.Mem.Size()); err != nil {
		t.Fatal(err)
	}
	q2 := q.On(d2)
	if got := d2.Status(); got != sACK|sDRIVER|sFEATURESOK|sDRIVEROK {
		t.Fatalf("restored status %#x", got)
	}
	d2.SetReg(vt.RegQueueSel, 0)
	if d2.Reg(vt.RegQueueReady) != 1 {
		t.Fatal("restored queue not ready")
	}
	quiet(t, d2, q2, 0) // paused until Resume
	d2.Resume()
	wantEcho(t, d2, q2, pendHead, pendOut, "in the snapshot")
	if n := d2.IRQ.Count(); n == 0 {
		t.Error("no interrupt after Resume")
	}
	if got := q2.UsedIdx(); got != 22 {
		t.Errorf("used.idx %d after restore, want 22", got)
	}
	for range 20 {
		h, out := post(d2, q2, "pong")
		q2.Notify()
		wantEcho(t, d2, q2, h, out, "pong")
	}
	if got := q2.UsedIdx(); got != 42 {
		t.Errorf("used.idx %d, want 42", got)
	}
	// A reset and a new initialisation work on the restored transport.
	d2.Reset()
	d2.Init(fVersion1)
	q3 := d2.SetupQueue(1, 8)
	d2.DriverOK()
	h, out := post(d2, q3, "fresh")
	q3.Kick()
	wantEcho(t, d2, q3, h, out, "fresh")
}

// TestSnapshotBeforeDriverOK: a device the driver was still setting up is
// restored with its registers, and the driver finishes the job.
func TestSnapshotBeforeDriverOK(t *testing.T) {
	d := vt.New(t, newLoopDev(16), vt.Options{})
	d.Init(fVersion1)
	q := d.SetupQueue(0, 16)
	st := d.Snapshot()
	if st.Active || st.Status != sACK|sDRIVER|sFEATURESOK || !st.Queues[0].Ready {
		t.Fatalf("saved %+v", st)
	}
	d2 := d.Restore(t, newLoopDev(16), st, vt.Options{})
	d2.Resume()
	q2 := q.On(d2)
	d2.DriverOK()
	h, out := post(d2, q2, "late")
	q2.Kick()
	wantEcho(t, d2, q2, h, out, "late")
}

// TestRestoreStateRejects: corrupt and foreign states are refused with
// ErrBadState, the transport stays unused (a good state still restores).
func TestRestoreStateRejects(t *testing.T) {
	dev := newLoopDev(16, 8)
	dev.features = 1 << 3
	d := vt.New(t, dev, vt.Options{MemSize: 1 << 20})
	d.Init(fVersion1 | fEventIdx | 1<<3)
	q := d.SetupQueue(0, 16)
	d.DriverOK()
	h, out := post(d, q, "x")
	q.Kick()
	wantEcho(t, d, q, h, out, "x")
	good := d.Snapshot()

	clone := func(f func(*virtio.MMIOState)) virtio.MMIOState {
		s := good
		s.QueueMax = append([]uint16(nil), good.QueueMax...)
		s.Queues = append([]virtio.QueueState(nil), good.Queues...)
		f(&s)
		return s
	}
	for _, c := range []struct {
		name string
		st   virtio.MMIOState
		dev  *loopDev // nil: like the original
		want string
	}{
		{"version", clone(func(s *virtio.MMIOState) { s.Version = 99 }), nil, "version"},
		{"device type", clone(func(s *virtio.MMIOState) { s.DeviceType = virtio.VIRTIO_ID_BLOCK }), nil, "device type"},
		{"queue count", clone(func(s *virtio.MMIOState) { s.QueueMax = s.QueueMax[:1]; s.Queues = s.Queues[:1] }), nil, "queues"},
		{"queue states missing", clone(func(s *virtio.MMIOState) { s.Queues = nil }), nil, "queues"},
		{"other device's sizes", good, newLoopDev(32, 8), "maximum size"},
		{"fewer queues on the device", good, newLoopDev(16), "queues"},
		{"size not a power of two", clone(func(s *virtio.MMIOState) { s.Queues[0].Num = 12 }), nil, "power of two"},
		{"size above the maximum", clone(func(s *virtio.MMIOState) { s.Queues[0].Num = 32 }), nil, "maximum"},
		{"size beyond 16 bits", clone(func(s *virtio.MMIOState) { s.Queues[0].Num = 1 << 16 }), nil, "size"},
		{"size 0", clone(func(s *virtio.MMIOState) { s.Queues[0].Num = 0 }), nil, "size 0"},
		{"desc outside RAM", clone(func(s *virtio.MMIOState) { s.Queues[0].Desc = 1 << 40 }), nil, "outside guest RAM"},
		{"used ring past the end", clone(func(s *virtio.MMIOState) { s.Queues[0].Used = 1<<20 - 16 }), nil, "outside guest RAM"},
		{"misaligned", clone(func(s *virtio.MMIOState) { s.Queues[0].Desc++ }), nil, "misaligned"},
		{"acked feature not offered", good, newLoopDev(16, 8), "does not offer"},
		{"acked unknown feature", clone(func(s *virtio.MMIOState) { s.DriverFeatures |= 1 << 50 }), nil, "does not offer"},
		{"FEATURES_OK without VERSION_1", clone(func(s *virtio.MMIOState) { s.DriverFeatures &^= fVersion1 }), nil, "VERSION_1"},
		{"status unknown bit", clone(func(s *virtio.MMIOState) { s.Status |= 0x10 }), nil, "unknown"},
		{"status step skipped", clone(func(s *virtio.MMIOState) { s.Status &^= sFEATURESOK }), nil, "without"},
		{"active without DRIVER_OK", clone(func(s *virtio.MMIOState) { s.Status &^= sDRIVEROK }), nil, "DRIVER_OK"},
		{"DRIVER_OK, inactive, healthy", clone(func(s *virtio.MMIOState) {
			s.Active = false
			s.Queues[0].Active = false
			s.Queues[0].NextAvail, s.Queues[0].NextUsed = 0, 0
			s.Queues[0].Signalled, s.Queues[0].SignalledValid = 0, false
		}), nil, "neither active"},
		{"queue active, not ready", clone(func(s *virtio.MMIOState) { s.Queues[1].Active = true }), nil, "ready"},
		{"ready queue not run", clone(func(s *virtio.MMIOState) { s.Queues[0].Active = false }), nil, "ready"},
		{"positions of an idle queue", clone(func(s *virtio.MMIOState) { s.Queues[1].NextUsed = 3 }), nil, "does not run"},
		{"chains held", clone(func(s *virtio.MMIOState) { s.Queues[0].NextAvail += 2 }), nil, "not returned"},
		{"interrupt status", clone(func(s *virtio.MMIOState) { s.InterruptStatus = 0x80 }), nil, "interrupt"},
		{"device state for a stateless device", clone(func(s *virtio.MMIOState) { s.Device = []byte{1} }), nil, "keeps none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			nd := c.dev
			if nd == nil {
				nd = newLoopDev(16, 8)
				nd.features = 1 << 3
			}
			d2 := d.Clone(t, nd, vt.Options{})
			err := d2.MMIO.RestoreState(c.st)
			if !errors.Is(err, virtio.ErrBadState) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("RestoreState: %v, want ErrBadState mentioning %q", err, c.want)
			}
			if nd.activations.Load() != 0 || d2.Status() != 0 {
				t.Fatalf("a refused state was applied (status %#x)", d2.Status())
			}
			if c.dev != nil {
				return
			}
			// The same transport takes the good state afterwards.
			if err := d2.MMIO.RestoreState(good); err != nil {
				t.Fatalf("good state after a refused one: %v", err)
			}
			d2.Resume()
			q2 := q.On(d2)
			h, out := post(d2, q2, "y")
			q2.Kick()
			wantEcho(t, d2, q2, h, out, "y")
		})
	}
}

// TestRestoreStateOnce: a transport restores once, and never one the
// driver already used.
func TestRestoreStateOnce(t *testing.T) {
	d := vt.New(t, newLoopDev(16), vt.Options{})
	d.Init(fVersion1)
	d.SetupQueue(0, 16)
	d.DriverOK()
	st := d.Snapshot()
	d2 := d.Restore(t, newLoopDev(16), st, vt.Options{})
	if err := d2.MMIO.RestoreState(st); err == nil {
		t.Error("a second RestoreState was accepted")
	}
	d3 := vt.New(t, newLoopDev(16), vt.Options{})
	d3.SetReg(vt.RegStatus, sACK)
	if err := d3.MMIO.RestoreState(st); err == nil {
		t.Error("RestoreState on a transport the driver used was accepted")
	}
}

// TestRestoreActivateError: a device that cannot activate fails the
// restore with its error.
func TestRestoreActivateError(t *testing.T) {
	d := vt.New(t, newLoopDev(16), vt.Options{})
	d.Init(fVersion1)
	d.SetupQueue(0, 16)
	d.DriverOK()
	st := d.Snapshot()
	nd := newLoopDev(16)
	nd.activateErr = errors.New("no backend")
	d2 := d.Clone(t, nd, vt.Options{})
	if err := d2.MMIO.RestoreState(st); err == nil || !strings.Contains(err.Error(), "no backend") {
		t.Fatalf("RestoreState: %v", err)
	}
}
