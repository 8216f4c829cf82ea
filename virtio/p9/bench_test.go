package p9_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lib9p "github.com/hugelgupf/p9/p9"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// BenchmarkSeqRead64M reads a 64 MiB file (in the page cache) from start
// to end through the device, and in the same loop with os.File.ReadAt in
// reads of the same size into the same guest memory, alternating, so both
// see the same host load. Reported: both rates and their ratio. msize is
// 512 KiB, the device's default maximum (Linux caps its own at 500 KiB).
//
//   - client: p9's Go client over the harness (chainConn): Twalk, Tlopen,
//     then Tread after Tread, each a chain posted and waited for, the
//     client's encoding and the harness's goroutine hand-offs included.
//   - raw/qdN: prepared Tread chains (the message, then one writable
//     buffer of msize), N in flight, as a kernel client keeps them: the
//     device and the server alone.
func BenchmarkSeqRead64M(b *testing.B) {
	const size = 64 << 20
	const msize = p9.DefaultMaxMessageSize
	root := b.TempDir()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i >> 12)
	}
	if err := os.WriteFile(filepath.Join(root, "big"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	hostFile, err := os.Open(filepath.Join(root, "big"))
	if err != nil {
		b.Fatal(err)
	}
	defer hostFile.Close()

	b.Run("client", func(b *testing.B) {
		s := newShareMsize(b, root, msize)
		cl, err := lib9p.NewClient(s.conn, lib9p.WithMessageSize(msize))
		if err != nil {
			b.Fatal(err)
		}
		rootF, err := cl.Attach("")
		if err != nil {
			b.Fatal(err)
		}
		chunk := msize - 4096 // what the client asks per Tread is below msize
		dst, err := s.d.Mem.Slice(s.d.Alloc(uint64(chunk), 4096), uint64(chunk))
		if err != nil {
			b.Fatal(err)
		}
		device := func() {
			_, f, err := rootF.Walk([]string{"big"})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := f.Open(lib9p.ReadOnly); err != nil {
				b.Fatal(err)
			}
			for off := 0; off < size; {
				n, err := f.ReadAt(dst, int64(off))
				if err != nil || n == 0 {
					b.Fatalf("read at %d: %d, %v", off, n, err)
				}
				off += n
			}
			_ = f.Close()
		}
		compare(b, size, device, func() { rawRead(b, hostFile, dst, size) })
	})
	for _, qd := range []int{1, 4} {
		b.Run(fmt.Sprintf("raw/qd%d", qd), func(b *testing.B) {
			s := newShareMsize(b, root, msize)
			s.attach(msize)
			r := s.rt(msg(p9.P9_TWALK, 1, enc{}.u32(1).u32(3).u16(1).str("big")), 4096)
			if r.typ != p9.P9_RWALK {
				b.Fatalf("walk: reply type %d", r.typ)
			}
			if r := s.rt(msg(p9.P9_TLOPEN, 1, enc{}.u32(3).u32(0)), 4096); r.typ != p9.P9_RLOPEN {
				b.Fatalf("lopen: reply type %d", r.typ)
			}
			count := uint32(msize - 11)
			type req struct {
				m   guestmem.GPA
				in  guestmem.GPA
				dst []byte
			}
			reqs := make([]req, qd)
			for i := range reqs {
				reqs[i].m = s.d.Alloc(64, 8)
				reqs[i].in = s.d.Alloc(msize, 4096)
			}
			slot := map[uint32]int{}
			post := func(i int, off uint64) {
				m := msg(p9.P9_TREAD, uint16(i), enc{}.u32(3).u64(off).u32(count))
				if err := s.d.Mem.WriteAt(m, reqs[i].m); err != nil {
					b.Fatal(err)
				}
				h := s.q.Add(vt.Buf{Addr: reqs[i].m, Len: uint32(len(m))}, vt.Buf{Addr: reqs[i].in, Len: msize, Write: true})
				slot[uint32(h)] = i
				s.q.Notify()
			}
			total := (size + int(count) - 1) / int(count)
			device := func() {
				posted, done, bytes := 0, 0, 0
				for ; posted < min(qd, total); posted++ {
					post(posted, uint64(posted)*uint64(count))
				}
				for done < total {
					u := s.q.Wait()
					i := slot[u.ID]
					got := binary.LittleEndian.Uint32(s.d.Bytes(reqs[i].in+7, 4))
					if u.Len != 11+got || got == 0 {
						b.Fatalf("Rread of %d bytes, count %d", u.Len, got)
					}
					done++
					bytes += int(got)
					if posted < total {
						post(i, uint64(posted)*uint64(count))
						posted++
					}
				}
				if bytes != size {
					b.Fatalf("read %d bytes, want %d", bytes, size)
				}
			}
			dst, err := s.d.Mem.Slice(reqs[0].in+11, uint64(count))
			if err != nil {
				b.Fatal(err)
			}
			compare(b, size, device, func() { rawRead(b, hostFile, dst, size) })
		})
	}
}

func newShareMsize(b *testing.B, root string, msize uint32) *share {
	b.Helper()
	return newShare(b, root, p9.Options{MaxMessageSize: msize})
}

// rawRead reads the file from start to end with ReadAt into dst.
func rawRead(b *testing.B, f *os.File, dst []byte, size int) {
	for off := 0; off < size; {
		n, err := f.ReadAt(dst, int64(off))
		if n == 0 || err != nil && off+n < size {
			b.Fatalf("ReadAt %d: %d, %v", off, n, err)
		}
		off += n
	}
}

// compare times b.N runs of device and of raw, alternating, and reports
// both rates in MB/s and their ratio.
func compare(b *testing.B, size int, device, raw func()) {
	device() // warm up: page cache, pools, stacks
	raw()
	var devT, rawT time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		device()
		t1 := time.Now()
		raw()
		devT += t1.Sub(t0)
		rawT += time.Since(t1)
	}
	b.StopTimer()
	mb := float64(b.N) * float64(size) / 1e6
	b.ReportMetric(mb/devT.Seconds(), "dev-MB/s")
	b.ReportMetric(mb/rawT.Seconds(), "raw-MB/s")
	b.ReportMetric(rawT.Seconds()/devT.Seconds(), "dev/raw")
	b.SetBytes(int64(size))
}
