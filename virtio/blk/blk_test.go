package blk_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	"github.com/hullvm/hull/virtio/blk"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

const (
	sOK     = blk.VIRTIO_BLK_S_OK
	sIOERR  = blk.VIRTIO_BLK_S_IOERR
	sUNSUPP = blk.VIRTIO_BLK_S_UNSUPP
	sector  = blk.SECTOR_SIZE
)

var allFeatures = ^uint64(0)

// pattern returns n bytes where every 512-byte sector starts with its number.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/sector)
	}
	for s := 0; s*sector < n; s++ {
		binary.LittleEndian.PutUint32(b[s*sector:], uint32(s))
	}
	return b
}

// disk is a test disk behind the harness, queue 0 running.
type disk struct {
	t    *testing.T
	path string
	dev  *blk.Device
	d    *vt.Driver
	q    *vt.Queue
	want []byte // expected file contents
}

func newDisk(t *testing.T, sectors int, opts blk.Options) *disk {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	want := pattern(sectors * sector)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	dev, err := blk.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	d := vt.New(t, dev, vt.Options{})
	d.Init(allFeatures)
	q := d.SetupQueue(0, 64)
	d.DriverOK()
	return &disk{t: t, path: path, dev: dev, d: d, q: q, want: want}
}

// req is one request as the driver lays it out.
type req struct {
	typ, sector uint64
	out         []byte // readable data after the header
	inLen       int    // writable data before the status byte
	split       int    // split data into descriptors of this size (0: one)
	indirect    bool
}

type resp struct {
	status  byte
	in      []byte
	usedLen uint32
}

func (k *disk) do(r req) resp {
	k.t.Helper()
	d := k.d
	var hdr [16]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(r.typ))
	binary.LittleEndian.PutUint64(hdr[8:], r.sector)
	bufs := []vt.Buf{{Addr: d.Put(hdr[:]), Len: 16}}
	pieces := func(n int, write bool, a guestmem.GPA) {
		step := r.split
		if step == 0 {
			step = n
		}
		for off := 0; off < n; off += step {
			bufs = append(bufs, vt.Buf{Addr: a + guestmem.GPA(off), Len: uint32(min(step, n-off)), Write: write})
		}
	}
	if len(r.out) > 0 {
		pieces(len(r.out), false, d.Put(r.out))
	}
	var in guestmem.GPA
	if r.inLen > 0 {
		in = d.Alloc(uint64(r.inLen), 8)
		pieces(r.inLen, true, in)
	}
	st := d.Put([]byte{0xee})
	bufs = append(bufs, vt.Buf{Addr: st, Len: 1, Write: true})
	var head uint16
	if r.indirect {
		head = k.q.AddIndirect(bufs...)
	} else {
		head = k.q.Add(bufs...)
	}
	k.q.Kick()
	u := k.q.Wait()
	if u.ID != uint32(head) {
		k.t.Fatalf("used id %d, want %d", u.ID, head)
	}
	res := resp{status: d.Bytes(st, 1)[0], usedLen: u.Len}
	if r.inLen > 0 {
		res.in = d.Bytes(in, r.inLen)
	}
	return res
}

func (k *disk) checkFile() {
	k.t.Helper()
	got, err := os.ReadFile(k.path)
	if err != nil {
		k.t.Fatal(err)
	}
	if !bytes.Equal(got, k.want) {
		k.t.Errorf("disk file differs from what the requests should have left (size %d, want %d)", len(got), len(k.want))
	}
}

func TestConfigAndFeatures(t *testing.T) {
	k := newDisk(t, 100, blk.Options{})
	f := k.d.DeviceFeatures()
	for _, bit := range []uint{blk.VIRTIO_BLK_F_SEG_MAX, blk.VIRTIO_BLK_F_FLUSH, virtio.VIRTIO_F_VERSION_1} {
		if f&virtio.Bit(bit) == 0 {
			t.Errorf("feature bit %d not offered (features %#x)", bit, f)
		}
	}
	if f&virtio.Bit(blk.VIRTIO_BLK_F_RO) != 0 {
		t.Error("a writable disk offers VIRTIO_BLK_F_RO")
	}
	if k.d.Reg(vt.RegDeviceID) != uint32(virtio.VIRTIO_ID_BLOCK) {
		t.Error("device ID is not 2")
	}
	cfg := k.d.Config(0, 60)
	if c := binary.LittleEndian.Uint64(cfg[0:]); c != 100 {
		t.Errorf("capacity %d, want 100", c)
	}
	if s := binary.LittleEndian.Uint32(cfg[12:]); s != blk.QueueSize-2 {
		t.Errorf("seg_max %d", s)
	}
	if n := binary.LittleEndian.Uint16(cfg[34:]); n != 1 {
		t.Errorf("num_queues %d", n)
	}
	if k.dev.Discard() != (f&virtio.Bit(blk.VIRTIO_BLK_F_DISCARD) != 0) {
		t.Error("DISCARD offer disagrees with the probe")
	}
	if k.dev.Discard() {
		if m := binary.LittleEndian.Uint32(cfg[36:]); m == 0 {
			t.Error("max_discard_sectors 0 while DISCARD is offered")
		}
	}
	if !k.dev.Discard() {
		t.Logf("the temp dir's file system cannot punch holes: DISCARD not offered")
	}
}

func TestRead(t *testing.T) {
	k := newDisk(t, 64, blk.Options{})
	for _, c := range []struct {
		name     string
		sector   uint64
		n        int
		split    int
		indirect bool
	}{
		{"first sector", 0, sector, 0, false},
		{"three in the middle", 10, 3 * sector, 0, false},
		{"last sector", 63, sector, 0, false},
		{"whole disk", 0, 64 * sector, 0, false},
		{"split in 100-byte descriptors", 5, 2 * sector, 100, false},
		{"indirect, split", 7, 4 * sector, 512, true},
		{"zero length", 64, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			k.t = t
			r := k.do(req{typ: blk.VIRTIO_BLK_T_IN, sector: c.sector, inLen: c.n, split: c.split, indirect: c.indirect})
			if r.status != sOK {
				t.Fatalf("status %d", r.status)
			}
			if r.usedLen != uint32(c.n+1) {
				t.Errorf("used length %d, want %d", r.usedLen, c.n+1)
			}
			if want := k.want[c.sector*sector : int(c.sector)*sector+c.n]; !bytes.Equal(r.in, want) {
				t.Errorf("read wrong data")
			}
		})
	}
}

func TestWriteReadBack(t *testing.T) {
	k := newDisk(t, 64, blk.Options{})
	data := bytes.Repeat([]byte("hull-blk"), 3*sector/8)
	for i, c := range []req{
		{typ: blk.VIRTIO_BLK_T_OUT, sector: 3, out: data},
		{typ: blk.VIRTIO_BLK_T_OUT, sector: 61, out: data, split: 37},
		{typ: blk.VIRTIO_BLK_T_OUT, sector: 20, out: data, split: 512, indirect: true},
	} {
		r := k.do(c)
		if r.status != sOK || r.usedLen != 1 {
			t.Fatalf("write %d: status %d, used length %d", i, r.status, r.usedLen)
		}
		copy(k.want[c.sector*sector:], data)
		back := k.do(req{typ: blk.VIRTIO_BLK_T_IN, sector: c.sector, inLen: len(data)})
		if !bytes.Equal(back.in, data) {
			t.Errorf("write %d: read back differs", i)
		}
	}
	if r := k.do(req{typ: blk.VIRTIO_BLK_T_FLUSH}); r.status != sOK {
		t.Errorf("flush status %d", r.status)
	}
	k.checkFile()
	if n := k.dev.Stats.Writes.Load(); n != 3 {
		t.Errorf("Stats.Writes %d", n)
	}
}

// TestOutOfRange: sector ranges past the end, huge sector numbers and
// overflowing sums are IOERR and touch nothing.
func TestOutOfRange(t *testing.T) {
	k := newDisk(t, 64, blk.Options{})
	for _, c := range []struct {
		name   string
		sector uint64
		n      int
	}{
		{"one past the end", 64, sector},
		{"straddles the end", 63, 2 * sector},
		{"huge sector", 1 << 62, sector},
		{"max sector", ^uint64(0), sector},
		{"sector*512 overflows to 0", 1 << 55, sector},
		{"zero length past the end", 65, 0},
		{"partial sector", 0, 100},
		{"sector and a half", 0, sector + 256},
	} {
		for _, typ := range []uint64{blk.VIRTIO_BLK_T_IN, blk.VIRTIO_BLK_T_OUT} {
			r := req{typ: typ, sector: c.sector}
			if typ == blk.VIRTIO_BLK_T_IN {
				r.inLen = c.n
			} else {
				r.out = bytes.Repeat([]byte{0x5a}, c.n)
			}
			if got := k.do(r); got.status != sIOERR || got.usedLen != 1 {
				t.Errorf("%s, type %d: status %d used length %d, want IOERR and 1", c.name, typ, got.status, got.usedLen)
			}
		}
	}
	k.checkFile()
	if n := k.dev.Stats.IOErrors.Load(); n != 16 {
		t.Errorf("Stats.IOErrors %d, want 16", n)
	}
}

func TestReadOnly(t *testing.T) {
	k := newDisk(t, 8, blk.Options{ReadOnly: true})
	f := k.d.DeviceFeatures()
	if f&virtio.Bit(blk.VIRTIO_BLK_F_RO) == 0 {
		t.Error("VIRTIO_BLK_F_RO not offered")
	}
	if f&(virtio.Bit(blk.VIRTIO_BLK_F_DISCARD)|virtio.Bit(blk.VIRTIO_BLK_F_WRITE_ZEROES)) != 0 {
		t.Error("a read-only disk offers DISCARD or WRITE_ZEROES")
	}
	if r := k.do(req{typ: blk.VIRTIO_BLK_T_OUT, sector: 1, out: make([]byte, sector)}); r.status != sIOERR {
		t.Errorf("write to a read-only disk: status %d, want IOERR", r.status)
	}
	if r := k.do(req{typ: blk.VIRTIO_BLK_T_IN, sector: 1, inLen: sector}); r.status != sOK || !bytes.Equal(r.in, k.want[sector:2*sector]) {
		t.Errorf("read from a read-only disk: status %d", r.status)
	}
	if r := k.do(req{typ: blk.VIRTIO_BLK_T_FLUSH}); r.status != sOK {
		t.Errorf("flush: status %d", r.status)
	}
	for _, typ := range []uint64{blk.VIRTIO_BLK_T_DISCARD, blk.VIRTIO_BLK_T_WRITE_ZEROES} {
		if r := k.do(req{typ: typ, out: segment(0, 1, 0)}); r.status != sUNSUPP {
			t.Errorf("type %d on a read-only disk: status %d, want UNSUPP", typ, r.status)
		}
	}
	k.checkFile()
}

func TestGetID(t *testing.T) {
	k := newDisk(t, 8, blk.Options{ID: "serial-123"})
	r := k.do(req{typ: blk.VIRTIO_BLK_T_GET_ID, inLen: 20})
	if r.status != sOK || r.usedLen != 21 {
		t.Fatalf("status %d used %d", r.status, r.usedLen)
	}
	if want := "serial-123\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"; string(r.in) != want {
		t.Errorf("ID %q, want %q", r.in, want)
	}
	if r := k.do(req{typ: blk.VIRTIO_BLK_T_GET_ID, inLen: 4}); r.status != sOK || string(r.in) != "seri" {
		t.Errorf("short ID buffer: status %d, %q", r.status, r.in)
	}
	k2 := newDisk(t, 8, blk.Options{})
	if r := k2.do(req{typ: blk.VIRTIO_BLK_T_GET_ID, inLen: 20}); r.status != sOK || !bytes.HasPrefix(r.in, []byte("hull-")) {
		t.Errorf("derived ID: status %d, %q", r.status, r.in)
	}
	if _, err := blk.Open(k.path, blk.Options{ID: "123456789012345678901"}); err == nil {
		t.Error("a 21-byte ID was accepted")
	}
}

func TestUnsupportedTypes(t *testing.T) {
	k := newDisk(t, 8, blk.Options{})
	for _, typ := range []uint64{2, 3, blk.VIRTIO_BLK_T_GET_LIFETIME, blk.VIRTIO_BLK_T_SECURE_ERASE, 0x80000000, 0xffffffff} {
		if r := k.do(req{typ: typ, inLen: sector}); r.status != sUNSUPP || r.usedLen != 1 {
			t.Errorf("type %#x: status %d used %d, want UNSUPP and 1", typ, r.status, r.usedLen)
		}
	}
	if n := k.dev.Stats.Unsupported.Load(); n != 6 {
		t.Errorf("Stats.Unsupported %d", n)
	}
	k.checkFile()
}

func segment(sector uint64, num, flags uint32) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:], sector)
	binary.LittleEndian.PutUint32(b[8:], num)
	binary.LittleEndian.PutUint32(b[12:], flags)
	return b
}

func TestDiscardAndWriteZeroes(t *testing.T) {
	k := newDisk(t, 64, blk.Options{})
	if !k.dev.Discard() && !k.dev.WriteZeroes() {
		t.Skip("the temp dir's file system supports neither PUNCH_HOLE nor ZERO_RANGE")
	}
	const unmap = blk.VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
	type step struct {
		name         string
		typ          uint64
		out          []byte
		status       byte
		zeroFrom, to int // sectors that read as zero afterwards
	}
	steps := []step{
		{"write zeroes", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(2, 3, 0), sOK, 2, 5},
		{"write zeroes, unmap", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(8, 8, unmap), sOK, 8, 16},
		{"write zeroes, unknown flag", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(20, 1, 2), sUNSUPP, 0, 0},
		{"write zeroes past the end", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(60, 5, 0), sIOERR, 0, 0},
		{"write zeroes, huge sector", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(^uint64(0), 1, 0), sIOERR, 0, 0},
		{"write zeroes, too many sectors", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(0, 1<<22+1, 0), sIOERR, 0, 0},
		{"write zeroes, two segments", blk.VIRTIO_BLK_T_WRITE_ZEROES, append(segment(0, 1, 0), segment(1, 1, 0)...), sIOERR, 0, 0},
		{"write zeroes, no segment", blk.VIRTIO_BLK_T_WRITE_ZEROES, nil, sIOERR, 0, 0},
		{"write zeroes, partial segment", blk.VIRTIO_BLK_T_WRITE_ZEROES, segment(0, 1, 0)[:12], sIOERR, 0, 0},
	}
	if k.dev.Discard() {
		steps = append(steps,
			step{"discard", blk.VIRTIO_BLK_T_DISCARD, segment(32, 8, 0), sOK, 32, 40},
			step{"discard with unmap flag", blk.VIRTIO_BLK_T_DISCARD, segment(48, 1, unmap), sUNSUPP, 0, 0},
			step{"discard past the end", blk.VIRTIO_BLK_T_DISCARD, segment(63, 2, 0), sIOERR, 0, 0})
	}
	for _, s := range steps {
		r := k.do(req{typ: s.typ, out: s.out})
		if r.status != s.status {
			t.Errorf("%s: status %d, want %d", s.name, r.status, s.status)
			continue
		}
		clear(k.want[s.zeroFrom*sector : s.to*sector])
	}
	k.checkFile()
}

// TestMalformedRequests: chains without a full header or a status byte.
func TestMalformedRequests(t *testing.T) {
	k := newDisk(t, 8, blk.Options{})
	d, q := k.d, k.q
	hdr := d.Put(make([]byte, 16))
	st := d.Alloc(1, 8)
	for _, c := range []struct {
		name string
		bufs []vt.Buf
	}{
		{"no status byte", []vt.Buf{{Addr: hdr, Len: 16}}},
		{"short header", []vt.Buf{{Addr: hdr, Len: 8}, {Addr: st, Len: 1, Write: true}}},
		{"only a status byte", []vt.Buf{{Addr: st, Len: 1, Write: true}}},
	} {
		head := q.Add(c.bufs...)
		q.Kick()
		if u := q.Wait(); u.ID != uint32(head) || u.Len != 0 {
			t.Errorf("%s: used %+v, want length 0", c.name, u)
		}
	}
	// A header split over two descriptors is fine.
	var h [16]byte
	binary.LittleEndian.PutUint64(h[8:], 2)
	a := d.Put(h[:])
	in := d.Alloc(sector, 8)
	q.Add(vt.Buf{Addr: a, Len: 5}, vt.Buf{Addr: a + 5, Len: 11}, vt.Buf{Addr: in, Len: sector, Write: true}, vt.Buf{Addr: st, Len: 1, Write: true})
	q.Kick()
	q.Wait()
	if s := d.Bytes(st, 1)[0]; s != sOK || !bytes.Equal(d.Bytes(in, sector), k.want[2*sector:3*sector]) {
		t.Errorf("split header: status %d", s)
	}
	if n := k.dev.Stats.Malformed.Load(); n != 3 {
		t.Errorf("Stats.Malformed %d, want 3", n)
	}
}

// TestTrailingPartialSector: a file of 2.5 sectors has capacity 2.
func TestTrailingPartialSector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd.img")
	if err := os.WriteFile(path, make([]byte, 2*sector+256), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, err := blk.Open(path, blk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if dev.Capacity() != 2 {
		t.Errorf("capacity %d, want 2", dev.Capacity())
	}
	if _, err := blk.Open(filepath.Join(t.TempDir(), "missing"), blk.Options{}); err == nil {
		t.Error("opening a missing file succeeded")
	}
}
