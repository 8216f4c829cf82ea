package blk_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	"github.com/hullvm/hull/virtio/blk"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// pending is a request posted and not waited for.
type pending struct {
	head   uint16
	in, st guestmem.GPA
	n      int
}

// postRead posts a read of n bytes at sector and notifies the device.
func (k *disk) postRead(sec uint64, n int) pending {
	d := k.d
	var hdr [16]byte
	binary.LittleEndian.PutUint32(hdr[0:], blk.VIRTIO_BLK_T_IN)
	binary.LittleEndian.PutUint64(hdr[8:], sec)
	p := pending{in: d.Alloc(uint64(n), 8), st: d.Put([]byte{0xee}), n: n}
	p.head = k.q.Add(vt.Buf{Addr: d.Put(hdr[:]), Len: 16}, vt.Buf{Addr: p.in, Len: uint32(n), Write: true}, vt.Buf{Addr: p.st, Len: 1, Write: true})
	k.q.Kick()
	return p
}

// wait waits for p and checks it read want.
func (k *disk) wait(p pending, want []byte) {
	k.t.Helper()
	u := k.q.Wait()
	if u.ID != uint32(p.head) || u.Len != uint32(p.n+1) {
		k.t.Fatalf("used %+v, want head %d len %d", u, p.head, p.n+1)
	}
	if st := k.d.Bytes(p.st, 1)[0]; st != sOK {
		k.t.Fatalf("status %d", st)
	}
	if got := k.d.Bytes(p.in, p.n); !bytes.Equal(got, want) {
		k.t.Fatal("read wrong data")
	}
}

// TestPauseResume: a request notified while the transport is paused is
// not served until Resume, then completes.
func TestPauseResume(t *testing.T) {
	k := newDisk(t, 16, blk.Options{})
	if err := k.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	irqs := k.d.IRQ.Count()
	p := k.postRead(3, sector)
	time.Sleep(30 * time.Millisecond)
	if got := k.q.UsedIdx(); got != 0 || k.d.IRQ.Count() != irqs {
		t.Fatalf("paused device: used.idx %d, %d interrupts", got, k.d.IRQ.Count()-irqs)
	}
	k.d.Resume()
	k.wait(p, k.want[3*sector:4*sector])
}

// TestSnapshotRestore: writes, a snapshot with a read left notified,
// restore onto a copy of the disk at a new path behind a new device and
// transport over a copy of guest memory; the read completes with the next
// used index, and later requests go to the new file.
func TestSnapshotRestore(t *testing.T) {
	k := newDisk(t, 64, blk.Options{})
	id := k.do(req{typ: blk.VIRTIO_BLK_T_GET_ID, inLen: blk.VIRTIO_BLK_ID_BYTES})
	data := bytes.Repeat([]byte("snap"), sector/4)
	if r := k.do(req{typ: blk.VIRTIO_BLK_T_OUT, sector: 5, out: data}); r.status != sOK {
		t.Fatalf("write status %d", r.status)
	}
	copy(k.want[5*sector:], data)
	if err := k.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	p := k.postRead(5, sector)
	st := k.d.Snapshot()

	// The disk as of the snapshot, at a new path.
	path2 := filepath.Join(t.TempDir(), "restored.img")
	if err := os.WriteFile(path2, k.want, 0o644); err != nil {
		t.Fatal(err)
	}
	dev2, err := blk.Open(path2, blk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev2.Close() })
	d2 := k.d.Restore(t, dev2, st, vt.Options{})
	if err := k.d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.d.Mem.Zero(0, k.d.Mem.Size()); err != nil {
		t.Fatal(err)
	}
	k2 := &disk{t: t, path: path2, dev: dev2, d: d2, q: k.q.On(d2), want: k.want}
	d2.Resume()
	k2.wait(p, data)
	if got := k2.q.UsedIdx(); got != 3 {
		t.Errorf("used.idx %d, want 3 (GET_ID, a write, a read)", got)
	}
	more := bytes.Repeat([]byte("post"), sector/4)
	if r := k2.do(req{typ: blk.VIRTIO_BLK_T_OUT, sector: 9, out: more}); r.status != sOK {
		t.Fatalf("write after restore: status %d", r.status)
	}
	copy(k2.want[9*sector:], more)
	if r := k2.do(req{typ: blk.VIRTIO_BLK_T_IN, sector: 9, inLen: sector}); r.status != sOK || !bytes.Equal(r.in, more) {
		t.Fatalf("read after restore: status %d", r.status)
	}
	k2.checkFile()
	if got := k2.q.UsedIdx(); got != 5 {
		t.Errorf("used.idx %d, want 5", got)
	}
	// The guest keeps the GET_ID string it knew (the new file's inode
	// would give another).
	id2 := k2.do(req{typ: blk.VIRTIO_BLK_T_GET_ID, inLen: blk.VIRTIO_BLK_ID_BYTES})
	if id.status != sOK || !strings.HasPrefix(string(id.in), "hull-") || !bytes.Equal(id2.in, id.in) {
		t.Errorf("GET_ID after restore %q, before %q", id2.in, id.in)
	}
}

// TestRestoreRejects: a disk of another size or mode, and corrupt device
// state, are refused.
func TestRestoreRejects(t *testing.T) {
	k := newDisk(t, 64, blk.Options{})
	st := k.d.Snapshot()
	open := func(sectors int, opts blk.Options) *blk.Device {
		path := filepath.Join(t.TempDir(), "d.img")
		if err := os.WriteFile(path, make([]byte, sectors*sector), 0o644); err != nil {
			t.Fatal(err)
		}
		dev, err := blk.Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dev.Close() })
		return dev
	}
	for _, c := range []struct {
		name string
		dev  *blk.Device
		mut  func(*virtio.MMIOState)
		want string
	}{
		{"smaller disk", open(63, blk.Options{}), nil, "63 sectors"},
		{"larger disk", open(65, blk.Options{}), nil, "65 sectors"},
		// Read-only, the disk offers no DISCARD or WRITE_ZEROES, which the
		// driver accepted where the file system can punch holes: then the
		// transport refuses before the device looks.
		{"read-only now", open(64, blk.Options{ReadOnly: true}), nil, "read-only|does not offer"},
		{"garbage state", open(64, blk.Options{}), func(s *virtio.MMIOState) { s.Device = []byte("\x00garbage") }, "saved state"},
		{"no state", open(64, blk.Options{}), func(s *virtio.MMIOState) { s.Device = nil }, "saved state"},
		{"other version", open(64, blk.Options{}), func(s *virtio.MMIOState) { s.Device = []byte(`{"Version":7}`) }, "version 7"},
		{"long ID", open(64, blk.Options{}), func(s *virtio.MMIOState) {
			s.Device = []byte(`{"Version":1,"Capacity":64,"ID":"` + strings.Repeat("x", 21) + `"}`)
		}, "ID"},
		{"rng state for a disk", open(64, blk.Options{}), func(s *virtio.MMIOState) { s.DeviceType = virtio.VIRTIO_ID_RNG }, "device type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := st
			if c.mut != nil {
				c.mut(&s)
			}
			d2 := k.d.Clone(t, c.dev, vt.Options{})
			err := d2.MMIO.RestoreState(s)
			if err == nil || !regexp.MustCompile(c.want).MatchString(err.Error()) {
				t.Fatalf("RestoreState: %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}
