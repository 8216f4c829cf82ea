package blk_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio/blk"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// Direction bits of a fuzzed request: which parts get the wrong direction.
const (
	dirHeaderWritable = 1 << iota
	dirStatusReadable
	dirOutWritable
	dirInReadable
)

type blkSeed struct {
	name     string
	hdr      []byte // the header as the driver sends it (any length)
	out      []byte // readable data after it
	inLen    uint16 // writable data before the status byte
	split    uint8  // descriptor size for the data (0: one descriptor)
	dirs     uint8
	indirect bool
}

func hdr(typ uint32, sector uint64) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint64(b[8:], sector)
	return b
}

// blkSeeds are the committed inputs of FuzzBlkRequest
// (testdata/fuzz/FuzzBlkRequest): mostly requests a hostile driver sends.
var blkSeeds = []blkSeed{
	{"read_ok", hdr(blk.VIRTIO_BLK_T_IN, 1), nil, 512, 0, 0, false},
	{"write_ok_split", hdr(blk.VIRTIO_BLK_T_OUT, 2), make([]byte, 1024), 0, 100, 0, true},
	{"read_huge_sector", hdr(blk.VIRTIO_BLK_T_IN, 1<<63), nil, 512, 0, 0, false},
	{"read_sector_overflow", hdr(blk.VIRTIO_BLK_T_IN, 0x0080000000000000), nil, 512, 0, 0, false},
	{"write_max_sector", hdr(blk.VIRTIO_BLK_T_OUT, ^uint64(0)), make([]byte, 512), 0, 0, 0, false},
	{"read_past_end", hdr(blk.VIRTIO_BLK_T_IN, 63), nil, 1024, 0, 0, false},
	{"read_odd_length", hdr(blk.VIRTIO_BLK_T_IN, 0), nil, 511, 0, 0, false},
	{"read_zero_length", hdr(blk.VIRTIO_BLK_T_IN, 64), nil, 0, 0, 0, false},
	{"short_header", hdr(blk.VIRTIO_BLK_T_IN, 0)[:9], nil, 512, 0, 0, false},
	{"empty_header", nil, nil, 512, 0, 0, false},
	{"header_writable", hdr(blk.VIRTIO_BLK_T_IN, 0), nil, 512, 0, dirHeaderWritable, false},
	{"status_readable", hdr(blk.VIRTIO_BLK_T_FLUSH, 0), nil, 0, 0, dirStatusReadable, false},
	{"out_data_writable", hdr(blk.VIRTIO_BLK_T_OUT, 0), make([]byte, 512), 0, 0, dirOutWritable, false},
	{"in_data_readable", hdr(blk.VIRTIO_BLK_T_IN, 0), nil, 512, 0, dirInReadable, false},
	{"unknown_type", hdr(0xdeadbeef, 0), nil, 512, 0, 0, false},
	{"get_id_tiny", hdr(blk.VIRTIO_BLK_T_GET_ID, 0), nil, 1, 0, 0, false},
	{"discard_garbage", hdr(blk.VIRTIO_BLK_T_DISCARD, 0), []byte("0123456789abcdef"), 0, 0, 0, false},
	{"discard_partial_segment", hdr(blk.VIRTIO_BLK_T_DISCARD, 0), make([]byte, 15), 0, 0, 0, false},
	{"write_zeroes_huge", hdr(blk.VIRTIO_BLK_T_WRITE_ZEROES, 0), segment(^uint64(0)-1, 0xffffffff, 1), 0, 3, 0, true},
	{"flush_with_data", hdr(blk.VIRTIO_BLK_T_FLUSH, 5), make([]byte, 512), 512, 0, 0, false},
}

func TestWriteBlkFuzzSeeds(t *testing.T) {
	if os.Getenv("HULL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set HULL_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzBlkRequest")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzBlkRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range blkSeeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\nuint16(%d)\nuint8(%d)\nuint8(%d)\nbool(%v)\n",
			s.hdr, s.out, s.inLen, s.split, s.dirs, s.indirect)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzBlkRequest sends arbitrary requests (header bytes, data, lengths,
// descriptor splits, wrong directions) through the transport to a 64-sector
// disk. Property: no panic; every chain comes back; a status byte, when
// the chain has room for one, is OK, IOERR or UNSUPP; the used length never
// exceeds the writable bytes; the disk file never grows.
func FuzzBlkRequest(f *testing.F) {
	for _, s := range blkSeeds {
		f.Add(s.hdr, s.out, s.inLen, s.split, s.dirs, s.indirect)
	}
	const sectors = 64
	path := filepath.Join(f.TempDir(), "fuzz.img")
	if err := os.WriteFile(path, pattern(sectors*sector), 0o644); err != nil {
		f.Fatal(err)
	}
	dev, err := blk.Open(path, blk.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = dev.Close() })
	d := vt.New(f, dev, vt.Options{MemSize: 4 << 20})
	d.Init(allFeatures)
	q := d.SetupQueue(0, blk.QueueSize)
	d.DriverOK()
	mark := d.AllocMark()

	f.Fuzz(func(t *testing.T, header, out []byte, inLen uint16, split, dirs uint8, indirect bool) {
		d.T = t
		defer d.AllocRelease(mark)
		header = header[:min(len(header), 64)]
		out = out[:min(len(out), 16<<10)]
		inLen = min(inLen, 16<<10)

		var bufs []vt.Buf
		var writable uint32
		add := func(a guestmem.GPA, n int, write bool) {
			step := int(split)
			if step == 0 || n/step > 32 {
				step = max(n, 1)
			}
			for off := 0; off < n; off += step {
				l := uint32(min(step, n-off))
				bufs = append(bufs, vt.Buf{Addr: a + guestmem.GPA(off), Len: l, Write: write})
				if write {
					writable += l
				}
			}
		}
		// Readable parts first, then writable, unless the directions are
		// fuzzed wrong (then Pop may refuse the chain, which is fine too).
		add(d.Put(header), len(header), dirs&dirHeaderWritable != 0)
		add(d.Put(out), len(out), dirs&dirOutWritable != 0)
		in := d.Alloc(uint64(inLen), 8)
		add(in, int(inLen), dirs&dirInReadable == 0)
		st := d.Put([]byte{0xee})
		add(st, 1, dirs&dirStatusReadable == 0)
		if len(bufs) > int(blk.QueueSize) || len(bufs) > q.Free() && !indirect {
			return
		}
		var head uint16
		if indirect {
			head = q.AddIndirect(bufs...)
		} else {
			head = q.Add(bufs...)
		}
		q.Kick()
		u, err := q.WaitErr()
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != uint32(head) {
			t.Fatalf("used id %d, want %d", u.ID, head)
		}
		if u.Len > writable {
			t.Fatalf("used length %d with %d writable bytes", u.Len, writable)
		}
		if u.Len > 0 && dirs&dirStatusReadable == 0 {
			if s := d.Bytes(st, 1)[0]; s > blk.VIRTIO_BLK_S_UNSUPP {
				t.Fatalf("status byte %#x", s)
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != sectors*sector {
			t.Fatalf("disk file changed size: %v %v", fi.Size(), err)
		}
	})
}
