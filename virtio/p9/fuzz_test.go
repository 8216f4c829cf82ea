package p9_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

type p9Seed struct {
	name     string
	msg      []byte // the T-message as the driver sends it (any bytes)
	room     uint16 // writable bytes
	split    uint8  // descriptor size for both parts (0: one descriptor each)
	fixSize  bool   // set the size field to the message's length
	indirect bool
}

func hdrOnly(typ uint8) []byte { return msg(typ, 1, nil) }

// p9Seeds are the committed inputs of FuzzP9Request
// (testdata/fuzz/FuzzP9Request). The fuzzed session has fid 1 at the root
// and fid 2 on data.bin, opened read-write.
var p9Seeds = []p9Seed{
	{"tversion", tversion(p9.P9_NOTAG, 8192, "9P2000.L"), 4096, 0, true, false},
	{"tversion_huge", tversion(p9.P9_NOTAG, 1<<31, "9P2000.L.Google.9"), 4096, 0, true, false},
	{"tversion_tiny", tversion(1, 7, "9P2000.L"), 4096, 0, true, false},
	{"tattach", msg(p9.P9_TATTACH, 1, enc{}.u32(9).u32(p9.P9_NOFID).str("").str("").u32(0)), 4096, 0, true, false},
	{"tattach_climb", msg(p9.P9_TATTACH, 1, enc{}.u32(9).u32(p9.P9_NOFID).str("").str("../outside").u32(0)), 4096, 3, true, false},
	{"twalk", msg(p9.P9_TWALK, 2, enc{}.u32(1).u32(5).u16(2).str("etc").str("hostname")), 4096, 0, true, false},
	{"twalk_through_link", msg(p9.P9_TWALK, 2, enc{}.u32(1).u32(5).u16(2).str("etcabs").str("passwd")), 4096, 0, true, true},
	{"twalk_dotdot", msg(p9.P9_TWALK, 2, enc{}.u32(1).u32(5).u16(1).str("..")), 4096, 0, true, false},
	{"twalk_cut", msg(p9.P9_TWALK, 2, enc{}.u32(1).u32(5).u16(3).str("etc")), 4096, 0, true, false},
	{"twalk_many", msg(p9.P9_TWALK, 2, enc{}.u32(1).u32(5).u16(0xffff).str("a")), 4096, 0, true, false},
	{"tread_huge", msg(p9.P9_TREAD, 3, enc{}.u32(2).u64(0).u32(1<<31)), 4096, 7, true, true},
	{"tread_offset_huge", msg(p9.P9_TREAD, 3, enc{}.u32(2).u64(1<<63).u32(100)), 200, 0, true, false},
	{"twrite", msg(p9.P9_TWRITE, 4, enc{}.u32(2).u64(3).u32(5).append([]byte("hello"))), 64, 4, true, false},
	{"twrite_count_bad", msg(p9.P9_TWRITE, 4, enc{}.u32(2).u64(3).u32(500).append([]byte("hello"))), 64, 0, true, false},
	{"treaddir", msg(p9.P9_TREADDIR, 5, enc{}.u32(1).u64(0).u32(300)), 300, 0, true, false},
	{"tgetattr_small_room", msg(p9.P9_TGETATTR, 6, enc{}.u32(1).u64(0x3fff)), 11, 0, true, false},
	{"tsetattr", msg(p9.P9_TSETATTR, 6, enc{}.u32(2).u32(8).u32(0).u32(0).u32(0).u64(7).u64(0).u64(0).u64(0).u64(0)), 64, 0, true, false},
	{"txattrwalk", msg(p9.P9_TXATTRWALK, 7, enc{}.u32(1).u32(8).str("security.capability")), 64, 0, true, false},
	{"tgetlock", msg(p9.P9_TGETLOCK, 8, enc{}.u32(2).u8(1).u64(0).u64(1).u32(1).str("g")), 64, 0, true, false},
	{"tflush", msg(p9.P9_TFLUSH, 9, enc{}.u16(3)), 64, 0, true, false},
	{"tsymlink_escape", msg(p9.P9_TSYMLINK, 10, enc{}.u32(1).str("esc").str("../../etc/passwd").u32(0)), 64, 0, true, false},
	{"tlcreate_dotdot", msg(p9.P9_TLCREATE, 11, enc{}.u32(1).str("../x").u32(2).u32(0o644).u32(0)), 64, 0, true, false},
	{"tmknod_chr", msg(p9.P9_TMKNOD, 12, enc{}.u32(1).str("null").u32(unix.S_IFCHR|0o666).u32(1).u32(3).u32(0)), 64, 0, true, false},
	{"tunlinkat_root", msg(p9.P9_TUNLINKAT, 13, enc{}.u32(1).str(".").u32(unix.AT_REMOVEDIR)), 64, 0, true, false},
	{"size_zero", msg(p9.P9_TCLUNK, 14, enc{}.u32(2)), 64, 0, false, false},
	{"size_huge", append([]byte{0xff, 0xff, 0xff, 0xff, p9.P9_TCLUNK, 1, 0}, 2, 0, 0, 0), 64, 0, false, false},
	{"unknown_type", hdrOnly(250), 64, 0, true, false},
	{"reply_type", msg(p9.P9_RREAD, 15, enc{}.u32(3).append([]byte("abc"))), 64, 0, true, false},
	{"header_only", hdrOnly(p9.P9_TGETATTR), 64, 1, true, false},
	{"short", []byte{7, 0, 0}, 64, 0, false, false},
	{"no_room", msg(p9.P9_TCLUNK, 16, enc{}.u32(9)), 10, 0, true, false},
}

func TestWriteP9FuzzSeeds(t *testing.T) {
	if os.Getenv("HULL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set HULL_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzP9Request")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzP9Request")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range p9Seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nuint8(%d)\nbool(%v)\nbool(%v)\n",
			s.msg, s.room, s.split, s.fixSize, s.indirect)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzP9Request sends arbitrary T-messages (any bytes, any size field,
// split over descriptors, direct or indirect, any reply room) through the
// transport into a session with fids on the share. Property: no panic;
// every chain comes back, with no more than its writable bytes; a reply
// has a size field equal to its length and the request's tag; the server
// never sends a reply the device cannot route (every message it gets was
// checked); nothing outside the shared directory changes.
func FuzzP9Request(f *testing.F) {
	for _, s := range p9Seeds {
		f.Add(s.msg, s.room, s.split, s.fixSize, s.indirect)
	}
	base, root := tree(f)
	s := newShare(f, root, p9.Options{})
	s.session(p9.DefaultMaxMessageSize)
	d, q := s.d, s.q
	mark := d.AllocMark()
	outside := func() string {
		ents, err := os.ReadDir(base)
		if err != nil {
			f.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		b, _ := os.ReadFile(filepath.Join(base, "outside", "secret"))
		return strings.Join(names, " ") + "|" + string(b)
	}
	before := outside()

	f.Fuzz(func(t *testing.T, m []byte, room uint16, split uint8, fixSize, indirect bool) {
		d.T, s.t = t, t
		defer d.AllocRelease(mark)
		m = m[:min(len(m), 32<<10)]
		if fixSize && len(m) >= 4 {
			binary.LittleEndian.PutUint32(m, uint32(len(m)))
		}
		var bufs []vt.Buf
		add := func(a guestmem.GPA, n int, write bool) {
			step := int(split)
			if step == 0 || n/step > 32 {
				step = max(n, 1)
			}
			for off := 0; off < n; off += step {
				bufs = append(bufs, vt.Buf{Addr: a + guestmem.GPA(off), Len: uint32(min(step, n-off)), Write: write})
			}
		}
		add(d.Put(m), len(m), false)
		in := d.Alloc(uint64(room), 8)
		add(in, int(room), true)
		if len(bufs) == 0 || len(bufs) > q.Free() && !indirect {
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
		if u.Len > uint32(room) {
			t.Fatalf("used length %d with %d writable bytes", u.Len, room)
		}
		if u.Len > 0 {
			r := d.Bytes(in, int(u.Len))
			if u.Len < 7 || binary.LittleEndian.Uint32(r) != u.Len {
				t.Fatalf("reply of %d bytes with size field %d", u.Len, binary.LittleEndian.Uint32(r))
			}
			if len(m) >= 7 && binary.LittleEndian.Uint16(r[5:]) != binary.LittleEndian.Uint16(m[5:]) {
				t.Fatalf("reply tag %d, request tag %d", binary.LittleEndian.Uint16(r[5:]), binary.LittleEndian.Uint16(m[5:]))
			}
			if r[4]%2 == 0 {
				t.Fatalf("reply type %d is not an R-message", r[4])
			}
		}
		if n := s.dev.Stats.Unroutable.Load(); n != 0 {
			t.Fatalf("%d replies the device could not route", n)
		}
		if got := outside(); got != before {
			t.Fatalf("outside the share: %q, was %q", got, before)
		}
	})
}
