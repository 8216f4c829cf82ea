package virtio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullvm/hull/guestmem"
)

// Fuzz layout: 64 KiB of guest RAM at 0 holding a descriptor table, both
// rings and an arena where indirect tables and buffers may point.
const (
	fuzzRAM   = 0x10000
	fuzzDesc  = 0x1000
	fuzzAvail = 0x2000
	fuzzUsed  = 0x3000
	fuzzArena = 0x4000
)

// fuzzDescs encodes descriptors as the fuzz input's desc bytes.
func fuzzDescs(ds ...desc) []byte {
	b := make([]byte, descSize*len(ds))
	for i, d := range ds {
		e := b[descSize*i:]
		binary.LittleEndian.PutUint64(e[0:], d.addr)
		binary.LittleEndian.PutUint32(e[8:], d.len)
		binary.LittleEndian.PutUint16(e[12:], d.flags)
		binary.LittleEndian.PutUint16(e[14:], d.next)
	}
	return b
}

// fuzzRing encodes avail.idx and the ring's head entries.
func fuzzRing(idx uint16, heads ...uint16) []byte {
	b := binary.LittleEndian.AppendUint16(nil, idx)
	for _, h := range heads {
		b = binary.LittleEndian.AppendUint16(b, h)
	}
	return b
}

type chainSeed struct {
	name     string
	sizeLog  uint8 // queue size 1<<(sizeLog%9)
	features uint8 // bit 0: INDIRECT_DESC, bit 1: EVENT_IDX, bit 2: return the chains in one PushUsedBatch
	ring     []byte
	descs    []byte // the table, then (past size entries) the arena
}

const (
	fNext, fWrite, fInd = VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT
)

// arenaAt returns the padding that puts the next fuzzDescs bytes at the
// arena for a queue of size entries.
func arenaAt(size int) []byte { return make([]byte, descSize*size) }

// chainSeeds are the committed bad (and a few good) inputs of
// FuzzDescriptorChain (testdata/fuzz/FuzzDescriptorChain).
var chainSeeds = []chainSeed{
	{"good_two_buffers", 4, 3, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 8, fNext, 1}, desc{fuzzArena + 8, 8, fWrite, 0})},
	{"self_loop", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 8, fNext, 0})},
	{"two_loop", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 8, fNext, 1}, desc{fuzzArena, 8, fNext, 0})},
	{"next_out_of_range", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 8, fNext, 0xffff})},
	{"addr_overflow", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{0xfffffffffffffff8, 16, 0, 0})},
	{"len_past_ram", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{fuzzRAM - 4, 0xffffffff, fWrite, 0})},
	{"readable_after_writable", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 8, fNext | fWrite, 1}, desc{fuzzArena, 8, 0, 0})},
	{"head_out_of_range", 4, 0, fuzzRing(1, 16), fuzzDescs(desc{fuzzArena, 8, 0, 0})},
	{"avail_idx_jump", 4, 0, fuzzRing(0x8000, 0), fuzzDescs(desc{fuzzArena, 8, 0, 0})},
	{"indirect_not_negotiated", 4, 0, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 16, fInd, 0})},
	{"indirect_nested", 4, 1, fuzzRing(1, 0), append(fuzzDescs(desc{fuzzArena, 32, fInd, 0}), append(arenaAt(15),
		fuzzDescs(desc{fuzzArena + 0x100, 8, fNext, 1}, desc{fuzzArena, 32, fInd, 0})...)...)},
	{"indirect_loop", 4, 1, fuzzRing(1, 0), append(fuzzDescs(desc{fuzzArena, 32, fInd, 0}), append(arenaAt(15),
		fuzzDescs(desc{fuzzArena + 0x100, 8, fNext, 1}, desc{fuzzArena + 0x100, 8, fNext, 0})...)...)},
	{"indirect_huge_table", 4, 1, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 0xfffffff0, fInd, 0})},
	{"indirect_odd_len", 4, 1, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 24, fInd, 0})},
	{"indirect_with_next", 4, 1, fuzzRing(1, 0), fuzzDescs(desc{fuzzArena, 16, fInd | fNext, 1}, desc{fuzzArena, 8, 0, 0})},
	{"indirect_good", 4, 3, fuzzRing(2, 0, 0), append(fuzzDescs(desc{fuzzArena, 32, fInd, 0}), append(arenaAt(15),
		fuzzDescs(desc{fuzzArena + 0x100, 8, fNext, 1}, desc{fuzzArena + 0x200, 8, fWrite, 0})...)...)},
	{"zero_lengths", 0, 0, fuzzRing(1, 0), fuzzDescs(desc{0xdead0000, 0, 0, 0})},
	{"size_256_all_heads", 8, 3, fuzzRing(256), nil},
	{"size_256_all_heads_batched", 8, 7, fuzzRing(256), nil},
	{"batched_with_bad_chains", 2, 6, fuzzRing(4, 0, 1, 3, 2), fuzzDescs(desc{fuzzArena, 8, fWrite, 0},
		desc{fuzzArena, 8, fNext, 2}, desc{fuzzArena + 8, 8, fWrite, 0}, desc{fuzzRAM - 4, 8, 0, 0})},
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("HULL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set HULL_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzDescriptorChain")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDescriptorChain")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range chainSeeds {
		body := fmt.Sprintf("go test fuzz v1\nuint8(%d)\nuint8(%d)\n[]byte(%q)\n[]byte(%q)\n", s.sizeLog, s.features, s.ring, s.descs)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDescriptorChain feeds arbitrary descriptor tables, indirect tables
// and available rings to a queue. Property: no panic, Pop ends, every
// buffer handed to a device lies in guest RAM, chains are no longer than
// the queue and no larger than MaxChainBytes, and the used ring and event
// words are written only inside the rings. The chains go back one by one
// or (features bit 2) in one PushUsedBatch.
func FuzzDescriptorChain(f *testing.F) {
	for _, s := range chainSeeds {
		f.Add(s.sizeLog, s.features, s.ring, s.descs)
	}
	mem, err := guestmem.NewBytes(guestmem.Range{Base: 0, Size: fuzzRAM})
	if err != nil {
		f.Fatal(err)
	}
	host, _ := mem.Slice(0, fuzzRAM)
	snapshot := make([]byte, fuzzRAM)
	batch := make([]UsedElem, 0, 256)
	f.Fuzz(func(t *testing.T, sizeLog, features uint8, ring, descs []byte) {
		clear(host)
		size := uint16(1) << (sizeLog % 9)
		copy(host[fuzzDesc:fuzzDesc+descSize*int(size)], descs)
		if len(descs) > descSize*int(size) {
			copy(host[fuzzArena:], descs[descSize*int(size):])
		}
		copy(host[fuzzAvail+availIdxOff:fuzzUsed], ring)
		copy(snapshot, host)

		var feat uint64
		if features&1 != 0 {
			feat |= Bit(VIRTIO_RING_F_INDIRECT_DESC)
		}
		if features&2 != 0 {
			feat |= Bit(VIRTIO_RING_F_EVENT_IDX)
		}
		cfg := QueueConfig{Size: size, Desc: fuzzDesc, Avail: fuzzAvail, Used: fuzzUsed}
		if err := cfg.Validate(mem, size); err != nil {
			t.Fatal(err)
		}
		var raised, failed int
		q := newQueue(mem, cfg, feat, func() error { raised++; return nil }, func() { failed++ }, &Counters{})

		var c Chain
		popped := 0
		batch = batch[:0]
		for q.Pop(&c) {
			popped++
			if popped > int(size) {
				t.Fatalf("popped %d chains from a ring of %d", popped, size)
			}
			if c.Descs > int(size) || len(c.Bufs) > int(size) {
				t.Fatalf("chain of %d descriptors (%d buffers) in a queue of %d", c.Descs, len(c.Bufs), size)
			}
			var r, w uint64
			for i, b := range c.Bufs {
				if b.Len == 0 || !mem.Contains(b.Addr, uint64(b.Len)) {
					t.Fatalf("buffer %#x+%d handed to the device", uint64(b.Addr), b.Len)
				}
				if i < c.NumRead {
					r += uint64(b.Len)
				} else {
					w += uint64(b.Len)
				}
			}
			if r != c.ReadLen || w != c.WriteLen || r+w > MaxChainBytes {
				t.Fatalf("lengths %d/%d, buffers sum to %d/%d", c.ReadLen, c.WriteLen, r, w)
			}
			if features&4 != 0 {
				batch = append(batch, UsedElem{Head: c.Head, Len: uint32(c.WriteLen)})
			} else {
				q.PushUsed(c.Head, uint32(c.WriteLen))
			}
		}
		if err := q.PushUsedBatch(batch); err != nil {
			t.Fatal(err)
		}
		if err := q.Signal(); err != nil {
			t.Fatal(err)
		}
		q.EnableNotify()
		if failed > 1 {
			t.Fatalf("NEEDS_RESET requested %d times", failed)
		}
		// The device wrote only the used ring (and its avail_event word).
		usedEnd := fuzzUsed + ringHeader + usedElemSize*int(size) + 4
		if !bytes.Equal(host[:fuzzUsed], snapshot[:fuzzUsed]) || !bytes.Equal(host[usedEnd:], snapshot[usedEnd:]) {
			t.Fatal("the device changed guest memory outside the used ring")
		}
	})
}

func TestVringNeedEvent(t *testing.T) {
	for _, c := range []struct {
		event, cur, old uint16
		want            bool
	}{
		{0, 1, 0, true},           // first element, event at 0
		{5, 6, 5, true},           // exactly crossing
		{5, 5, 4, false},          // not yet
		{5, 10, 2, true},          // batch crossing
		{10, 5, 2, false},         // event ahead
		{0xffff, 0, 0xfffe, true}, // wraps
		{3, 3, 3, false},          // nothing new
	} {
		if got := vringNeedEvent(c.event, c.cur, c.old); got != c.want {
			t.Errorf("vringNeedEvent(%d, %d, %d) = %v, want %v", c.event, c.cur, c.old, got, c.want)
		}
	}
}

// TestChainByteCap: two 3 GiB buffers exceed MaxChainBytes. The guest RAM
// is a lazy mapping, so the test costs the pages it touches only.
func TestChainByteCap(t *testing.T) {
	const big = 3 << 30
	mem, err := guestmem.NewMmap(guestmem.Range{Base: 0, Size: big + 0x10000})
	if err != nil {
		t.Skipf("no 3 GiB lazy mapping here: %v", err)
	}
	defer mem.Close()
	cfg := QueueConfig{Size: 4, Desc: 0x1000, Avail: 0x2000, Used: 0x3000}
	host, _ := mem.Slice(0, 0x4000)
	copy(host[0x1000:], fuzzDescs(desc{0x10000, big, fNext, 1}, desc{0x10000, big, fWrite, 0}))
	copy(host[0x2000+availIdxOff:], fuzzRing(1, 0))
	cnt := &Counters{}
	q := newQueue(mem, cfg, 0, func() error { return nil }, func() {}, cnt)
	var c Chain
	if q.Pop(&c) {
		t.Fatalf("a %d-byte chain was accepted", uint64(2*big))
	}
	if cnt.BadChain.Load() != 1 {
		t.Errorf("BadChain %d, want 1", cnt.BadChain.Load())
	}
}
