package p9_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hugelgupf/p9/linux"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// Raw 9P through the device: what the device itself answers, checks and
// changes.

// rt posts m with room writable bytes and parses the reply.
func (s *share) rt(m []byte, room int) reply {
	s.t.Helper()
	return parse(s.t, s.conn.roundTrip(s.t, m, room))
}

func tversion(tag uint16, msize uint32, version string) []byte {
	return msg(p9.P9_TVERSION, tag, enc{}.u32(msize).str(version))
}

// rversion parses an Rversion body.
func rversion(t testing.TB, r reply) (uint32, string) {
	t.Helper()
	if r.typ != p9.P9_RVERSION {
		t.Fatalf("reply type %d, want Rversion", r.typ)
	}
	return binary.LittleEndian.Uint32(r.body), string(r.body[6:])
}

// attach negotiates msize and attaches fid 1 at the root.
func (s *share) attach(msize uint32) {
	s.t.Helper()
	if _, v := rversion(s.t, s.rt(tversion(p9.P9_NOTAG, msize, "9P2000.L"), 4096)); v != "9P2000.L" {
		s.t.Fatalf("version %q", v)
	}
	if r := s.rt(msg(p9.P9_TATTACH, 1, enc{}.u32(1).u32(p9.P9_NOFID).str("root").str("").u32(0)), 4096); r.typ != p9.P9_RATTACH {
		s.t.Fatalf("attach: reply type %d", r.typ)
	}
}

// session is attach, then fid 2 on data.bin, opened read-write.
func (s *share) session(msize uint32) {
	s.t.Helper()
	s.attach(msize)
	for _, m := range [][]byte{
		msg(p9.P9_TWALK, 2, enc{}.u32(1).u32(2).u16(1).str("data.bin")),
		msg(p9.P9_TLOPEN, 3, enc{}.u32(2).u32(unix.O_RDWR)),
	} {
		if r := s.rt(m, 4096); r.typ == p9.P9_RLERROR {
			s.s9fatal(m, r)
		}
	}
}

func (s *share) s9fatal(m []byte, r reply) {
	s.t.Helper()
	s.t.Fatalf("message type %d: Rlerror %d", m[4], binary.LittleEndian.Uint32(r.body))
}

func TestVersionNegotiation(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	for _, c := range []struct {
		ask       uint32
		version   string
		msize     uint32
		versionIs string
	}{
		{16 << 20, "9P2000.L", p9.DefaultMaxMessageSize, "9P2000.L"}, // larger than the device takes: its maximum
		{8192, "9P2000.L", 8192, "9P2000.L"},
		{1 << 20, "9P2000.L.Google.3", p9.DefaultMaxMessageSize, "9P2000.L"}, // no server extensions
		{8192, "9P2000.u", 0, "unknown"},
	} {
		r := s.rt(tversion(p9.P9_NOTAG, c.ask, c.version), 4096)
		if r.tag != p9.P9_NOTAG {
			t.Errorf("Rversion tag %#x", r.tag)
		}
		msize, v := rversion(t, r)
		if msize != c.msize || v != c.versionIs {
			t.Errorf("Tversion %d %q: Rversion %d %q, want %d %q", c.ask, c.version, msize, v, c.msize, c.versionIs)
		}
	}
	// too small an msize is refused
	if e := s.rt(tversion(5, 100, "9P2000.L"), 4096).ecode(t); e != uint32(linux.EINVAL) {
		t.Errorf("Tversion msize 100: errno %d, want EINVAL", e)
	}

	// msize 8192 now: a larger message is refused before the server
	s.session(8192)
	big := msg(p9.P9_TWRITE, 9, enc{}.u32(2).u64(0).u32(9000).append(make([]byte, 9000)))
	if e := s.rt(big, 4096).ecode(t); e != uint32(linux.EMSGSIZE) {
		t.Errorf("9 KB Twrite at msize 8192: errno %d, want EMSGSIZE", e)
	}
	if s.dev.Stats.TooBig.Load() != 1 {
		t.Errorf("TooBig %d", s.dev.Stats.TooBig.Load())
	}
	fits := msg(p9.P9_TWRITE, 10, enc{}.u32(2).u64(0).u32(8192-23).append(bytes.Repeat([]byte("w"), 8192-23)))
	if r := s.rt(fits, 4096); r.typ != p9.P9_RWRITE || binary.LittleEndian.Uint32(r.body) != 8192-23 {
		t.Errorf("8 KiB Twrite: reply %d %x", r.typ, r.body)
	}
	// a Tread asking for more than msize or the chain holds gets less
	for _, room := range []int{60000, 1000} {
		r := s.rt(msg(p9.P9_TREAD, 11, enc{}.u32(2).u64(0).u32(1<<20)), room)
		if r.typ != p9.P9_RREAD {
			t.Fatalf("Tread: reply type %d", r.typ)
		}
		n := binary.LittleEndian.Uint32(r.body)
		if want := uint32(min(8192, room) - 11); n != want || len(r.body) != 4+int(n) {
			t.Errorf("Tread of 1 MiB, room %d: %d bytes, want %d", room, n, want)
		}
	}

	// a device with a smaller maximum
	s2 := newShare(t, root, p9.Options{MaxMessageSize: 16 << 10})
	if msize, _ := rversion(t, s2.rt(tversion(p9.P9_NOTAG, 1<<20, "9P2000.L"), 4096)); msize != 16<<10 {
		t.Errorf("MaxMessageSize 16K: Rversion msize %d", msize)
	}
}

func (e enc) append(b []byte) enc { return append(e, b...) }

// TestDeviceAnswers: requests the device answers itself, malformed ones
// first; the device keeps serving after each.
func TestDeviceAnswers(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	s.session(p9.DefaultMaxMessageSize)

	withSize := func(m []byte, size uint32) []byte {
		binary.LittleEndian.PutUint32(m, size)
		return m
	}
	names17 := enc{}.u32(1).u32(3).u16(17)
	for range 17 {
		names17 = names17.str("etc")
	}
	for _, c := range []struct {
		name  string
		m     []byte
		room  int
		errno linux.Errno // 0: see want
		want  uint8       // reply type when errno is 0
	}{
		{"size field too small", withSize(msg(p9.P9_TCLUNK, 20, enc{}.u32(9)), 3), 4096, linux.EINVAL, 0},
		{"size field past the chain", withSize(msg(p9.P9_TCLUNK, 21, enc{}.u32(9)), 400), 4096, linux.EINVAL, 0},
		{"unknown type", msg(200, 22, enc{}.u32(1)), 4096, linux.ENOSYS, 0},
		{"a reply type", msg(p9.P9_RVERSION, 23, enc{}.u32(8192).str("9P2000.L")), 4096, linux.ENOSYS, 0},
		{"legacy Topen", msg(112, 24, enc{}.u32(1).u8(0)), 4096, linux.ENOSYS, 0},
		{"Twalk cut short", msg(p9.P9_TWALK, 25, enc{}.u32(1).u32(3).u16(2).str("etc")), 4096, linux.EINVAL, 0},
		{"Twalk of 17 names", msg(p9.P9_TWALK, 26, names17), 4096, linux.EINVAL, 0},
		{"string past the end", msg(p9.P9_TMKDIR, 27, enc{}.u32(1).u16(500).append([]byte("abc"))), 4096, linux.EINVAL, 0},
		{"Tattach without n_uname", msg(p9.P9_TATTACH, 28, enc{}.u32(5).u32(p9.P9_NOFID).str("").str("")), 4096, linux.EINVAL, 0},
		{"Twrite count too large", msg(p9.P9_TWRITE, 29, enc{}.u32(2).u64(0).u32(100).append(make([]byte, 10))), 4096, linux.EINVAL, 0},
		{"Twrite count too small", msg(p9.P9_TWRITE, 30, enc{}.u32(2).u64(0).u32(1).append(make([]byte, 10))), 4096, linux.EINVAL, 0},
		{"Twrite without its fixed part", msg(p9.P9_TWRITE, 31, enc{}.u32(2).u64(0)), 4096, linux.EINVAL, 0},
		{"Tgetattr without its mask", msg(p9.P9_TGETATTR, 32, enc{}.u32(1)), 4096, linux.EINVAL, 0},
		{"Tversion msize 100", tversion(33, 100, "9P2000.L"), 4096, linux.EINVAL, 0},
		{"Txattrwalk", msg(p9.P9_TXATTRWALK, 34, enc{}.u32(1).u32(4).str("security.capability")), 4096, linux.EOPNOTSUPP, 0},
		{"Txattrcreate", msg(p9.P9_TXATTRCREATE, 35, enc{}.u32(1).str("user.x").u64(3).u32(0)), 4096, linux.EOPNOTSUPP, 0},
		{"reply larger than the chain", msg(p9.P9_TGETATTR, 36, enc{}.u32(1).u64(0x3fff)), 20, linux.EMSGSIZE, 0},
		{"unknown fid (the server)", msg(p9.P9_TGETATTR, 37, enc{}.u32(77).u64(0x3fff)), 4096, linux.EBADF, 0},
		{"name with a slash (the server)", msg(p9.P9_TMKDIR, 38, enc{}.u32(1).str("a/b").u32(0o755).u32(0)), 4096, linux.EINVAL, 0},
		{"Tflush of nothing", msg(p9.P9_TFLUSH, 39, enc{}.u16(1234)), 4096, 0, p9.P9_RFLUSH},
		{"Tgetlock", msg(p9.P9_TGETLOCK, 40, enc{}.u32(2).u8(p9.P9_LOCK_TYPE_WRLCK).u64(0).u64(10).u32(42).str("guest").u32(0xdead)), 4096, 0, p9.P9_RGETLOCK},
		{"Tlock", msg(p9.P9_TLOCK, 41, enc{}.u32(2).u8(p9.P9_LOCK_TYPE_WRLCK).u32(0).u64(0).u64(10).u32(42).str("guest")), 4096, 0, p9.P9_RLOCK},
		{"Tfsync with datasync", msg(p9.P9_TFSYNC, 42, enc{}.u32(2).u32(1)), 4096, 0, p9.P9_RFSYNC},
	} {
		r := s.rt(c.m, c.room)
		if r.tag != binary.LittleEndian.Uint16(c.m[5:]) {
			t.Errorf("%s: reply tag %d", c.name, r.tag)
		}
		if c.errno != 0 {
			if e := r.ecode(t); e != uint32(c.errno) {
				t.Errorf("%s: errno %d (%v), want %v", c.name, e, linux.Errno(e), c.errno)
			}
		} else if r.typ != c.want {
			t.Errorf("%s: reply type %d, want %d", c.name, r.typ, c.want)
		}
		if c.want == p9.P9_RGETLOCK {
			rr := &enc{}
			want := rr.u8(p9.P9_LOCK_TYPE_UNLCK).u64(0).u64(10).u32(42).str("guest")
			if !bytes.Equal(r.body, want) {
				t.Errorf("Rgetlock %x, want %x", r.body, []byte(want))
			}
		}
		// still serving
		if r := s.rt(msg(p9.P9_TGETATTR, 99, enc{}.u32(1).u64(0x3fff)), 4096); r.typ != p9.P9_RGETATTR {
			t.Fatalf("after %s: Tgetattr gives type %d", c.name, r.typ)
		}
	}
	// chains with no room for any answer come back empty
	for _, c := range []struct {
		m    []byte
		room int
	}{{[]byte{1, 2, 3}, 4096}, {msg(p9.P9_TCLUNK, 1, enc{}.u32(9)), 10}} {
		if got := s.conn.roundTrip(t, c.m, c.room); len(got) != 0 {
			t.Errorf("%d readable, %d writable: %d bytes back, want 0", len(c.m), c.room, len(got))
		}
	}
	if s.dev.Stats.Malformed.Load() != 2 || s.dev.Stats.Unroutable.Load() != 0 {
		t.Errorf("Malformed %d, Unroutable %d", s.dev.Stats.Malformed.Load(), s.dev.Stats.Unroutable.Load())
	}
}

// TestSameTagTwice: two requests under one guest tag in flight together
// (as after an Rflush) both come back, each into its own chain.
func TestSameTagTwice(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	s.session(p9.DefaultMaxMessageSize)
	d, q := s.d, s.q
	var heads [2]uint16
	var ins [2]guestmem.GPA
	for i, fid := range []uint32{1, 2} {
		m := msg(p9.P9_TGETATTR, 5, enc{}.u32(fid).u64(0x3fff))
		ins[i] = d.Alloc(4096, 8)
		heads[i] = q.Add(vt.Buf{Addr: d.Put(m), Len: uint32(len(m))}, vt.Buf{Addr: ins[i], Len: 4096, Write: true})
	}
	q.Kick()
	got := map[uint32]uint32{}
	for _, u := range q.WaitN(2) {
		got[u.ID] = u.Len
	}
	for i, h := range heads {
		r := parse(t, d.Bytes(ins[i], int(got[uint32(h)])))
		if r.typ != p9.P9_RGETATTR || r.tag != 5 {
			t.Errorf("request %d: reply type %d tag %d", i, r.typ, r.tag)
		}
		// root (a directory) for fid 1, data.bin for fid 2
		mode := binary.LittleEndian.Uint32(r.body[8+13:])
		if isDir := mode&unix.S_IFMT == unix.S_IFDIR; isDir != (i == 0) {
			t.Errorf("request %d got the other's reply (mode %o)", i, mode)
		}
	}
}

// TestSplitChains: messages spread over descriptors the way Linux's
// zero-copy path lays them out (Twrite: header, then the data pages;
// Rread: 11 bytes of header, then the pages), direct and indirect.
func TestSplitChains(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	s.session(p9.DefaultMaxMessageSize)
	d, q := s.d, s.q
	data := bytes.Repeat([]byte("0123456789"), 3000) // 30000 bytes: 8 pages
	for _, indirect := range []bool{false, true} {
		// Twrite: the 23-byte header, then the data in 4 KiB pieces
		hdr := msg(p9.P9_TWRITE, 50, enc{}.u32(2).u64(100).u32(uint32(len(data))))
		binary.LittleEndian.PutUint32(hdr, uint32(len(hdr)+len(data)))
		bufs := []vt.Buf{{Addr: d.Put(hdr), Len: uint32(len(hdr))}}
		da := d.Put(data)
		for off := 0; off < len(data); off += 4096 {
			bufs = append(bufs, vt.Buf{Addr: da + guestmem.GPA(off), Len: uint32(min(4096, len(data)-off))})
		}
		in := d.Alloc(4096, 8)
		bufs = append(bufs, vt.Buf{Addr: in, Len: 4096, Write: true})
		add := q.Add
		if indirect {
			add = q.AddIndirect
		}
		add(bufs...)
		q.Kick()
		u := q.Wait()
		if r := parse(t, d.Bytes(in, int(u.Len))); r.typ != p9.P9_RWRITE || binary.LittleEndian.Uint32(r.body) != uint32(len(data)) {
			t.Fatalf("Twrite: reply %d %x", r.typ, r.body)
		}
		b, err := os.ReadFile(filepath.Join(root, "data.bin"))
		if err != nil || !bytes.Equal(b[100:100+len(data)], data) {
			t.Fatalf("host file after the split Twrite: %v", err)
		}

		// Tread: 11 bytes for the header, then pages
		m := msg(p9.P9_TREAD, 51, enc{}.u32(2).u64(100).u32(uint32(len(data))))
		rh := d.Alloc(11, 8)
		bufs = []vt.Buf{{Addr: d.Put(m), Len: uint32(len(m))}, {Addr: rh, Len: 11, Write: true}}
		var pages []guestmem.GPA
		for off := 0; off < len(data); off += 4096 {
			p := d.Alloc(4096, 4096)
			pages = append(pages, p)
			bufs = append(bufs, vt.Buf{Addr: p, Len: 4096, Write: true})
		}
		add(bufs...)
		q.Kick()
		u = q.Wait()
		if u.Len != uint32(11+len(data)) {
			t.Fatalf("Rread of %d bytes, want %d", u.Len, 11+len(data))
		}
		var got []byte
		for _, p := range pages {
			got = append(got, d.Bytes(p, 4096)...)
		}
		if !bytes.Equal(got[:len(data)], data) {
			t.Errorf("split Rread: wrong data")
		}
		if h := d.Bytes(rh, 11); h[4] != p9.P9_RREAD || binary.LittleEndian.Uint32(h[7:]) != uint32(len(data)) {
			t.Errorf("Rread header %x", h)
		}
	}
	if !strings.Contains(string(must(os.ReadFile(filepath.Join(root, "data.bin")))), "0123456789") {
		t.Error("data.bin lost its data")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
