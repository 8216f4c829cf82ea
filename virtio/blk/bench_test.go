package blk_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio/blk"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// The benchmarks drive the device model through the harness (no KVM) and,
// in the same loop, do the same reads with raw pread on the same file into
// the same guest memory, so the two are measured under the same conditions
// (page cache, CPU load). Reported: the device's and raw rates and their
// ratio (target ≥ 0.8). The file is in the page cache: this measures the
// device model's overhead, not the disk.

const benchFileSize = 64 << 20

func benchDisk(b *testing.B) (string, *blk.Device, *vt.Driver, *vt.Queue) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.img")
	data := make([]byte, benchFileSize)
	for i := range data {
		data[i] = byte(i >> 12)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	dev, err := blk.Open(path, blk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dev.Close() })
	d := vt.New(b, dev, vt.Options{MemSize: 64 << 20})
	d.Init(allFeatures)
	q := d.SetupQueue(0, blk.QueueSize)
	d.DriverOK()
	return path, dev, d, q
}

// benchReq is one prepared IN request: header, data segments, status.
type benchReq struct {
	hdr  guestmem.GPA
	data []vt.Buf
	st   guestmem.GPA
}

func prepare(d *vt.Driver, n, size, segs int) []benchReq {
	reqs := make([]benchReq, n)
	for i := range reqs {
		r := &reqs[i]
		r.hdr = d.Alloc(16, 16)
		// one contiguous data area, split into segs descriptors
		seg := size / segs
		data := d.Alloc(uint64(size), 4096)
		for i := range segs {
			r.data = append(r.data, vt.Buf{Addr: data + guestmem.GPA(i*seg), Len: uint32(seg), Write: true})
		}
		r.st = d.Alloc(1, 8)
	}
	return reqs
}

// post queues r to read at sector (through an indirect table, as Linux
// does when the feature is negotiated).
func post(d *vt.Driver, q *vt.Queue, r *benchReq, sector uint64, bufs []vt.Buf) uint16 {
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], blk.VIRTIO_BLK_T_IN)
	binary.LittleEndian.PutUint64(h[8:], sector)
	if err := d.Mem.WriteAt(h[:], r.hdr); err != nil {
		d.T.Fatal(err)
	}
	bufs = append(bufs[:0], vt.Buf{Addr: r.hdr, Len: 16})
	bufs = append(bufs, r.data...)
	bufs = append(bufs, vt.Buf{Addr: r.st, Len: 1, Write: true})
	if len(bufs) > 3 {
		return q.AddIndirect(bufs...)
	}
	return q.Add(bufs...)
}

// workload is one benchmark's shape.
type workload struct {
	qd   int           // requests per kick
	size int           // bytes per request
	segs int           // data descriptors per request
	next func() uint64 // byte offset of the next read
}

// Modes of a benchmark.
const (
	// modeModel: the driver posts w.qd requests without notifying, then
	// the benchmark goroutine itself runs the device (Device.Kick, what the
	// queue worker would call) and that is what is timed: the device model's
	// own cost per request (chain parsing, checks, pread, used ring,
	// interrupt decision), with no thread hand-off. The worker stays asleep
	// because it is never notified, so the queue has one user.
	modeModel = "model"
	// modeE2E: end to end through the transport: w.qd requests stay in
	// flight as with fio's iodepth (a completion is replaced at once), the
	// driver kicks the worker's eventfd only when the device asked for it
	// (EVENT_IDX) and sleeps on the interrupt eventfd. Timed: everything,
	// the harness's driver work and the thread wake-ups included.
	modeE2E = "e2e"
)

// run measures b.N reads in mode and b.N raw preads of the same size into
// the same guest memory, alternating in rounds so that both see the same
// host load, and reports both rates (per second, scaled by perOp into
// unit) and their ratio.
func run(b *testing.B, mode string, w workload, unit string, perOp float64) {
	path, dev, d, q := benchDisk(b)
	reqs := prepare(d, w.qd, w.size, w.segs)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	// raw reads land in the same guest memory as the device's
	dsts := make([][]byte, len(reqs))
	for j := range reqs {
		if dsts[j], err = d.Mem.Slice(reqs[j].data[0].Addr, uint64(w.size)); err != nil {
			b.Fatal(err)
		}
	}
	var bufs []vt.Buf
	mark := d.AllocMark()
	slot := make([]int, blk.QueueSize) // head -> request
	check := func(j int) {
		if s := d.Bytes(reqs[j].st, 1)[0]; s != blk.VIRTIO_BLK_S_OK {
			b.Fatalf("request status %d", s)
		}
	}

	// model: returns the time of the device's part only
	model := func(n int) time.Duration {
		var t time.Duration
		for done := 0; done < n; {
			m := min(w.qd, n-done)
			for j := range m {
				post(d, q, &reqs[j], w.next()/blk.SECTOR_SIZE, bufs)
			}
			t0 := time.Now()
			if err := dev.Kick(0); err != nil {
				b.Fatal(err)
			}
			t += time.Since(t0)
			for range m {
				u, ok := q.Next()
				if !ok {
					b.Fatal("a request was not completed")
				}
				_ = u
			}
			for j := range m {
				check(j)
			}
			done += m
			d.AllocRelease(mark) // the indirect tables
		}
		return t
	}
	e2e := func(n int) time.Duration {
		t0 := time.Now()
		posted, done := 0, 0
		for ; posted < min(w.qd, n); posted++ {
			slot[post(d, q, &reqs[posted], w.next()/blk.SECTOR_SIZE, bufs)] = posted
		}
		q.Notify()
		for done < n {
			u := q.Wait()
			done++
			j := slot[u.ID]
			check(j)
			if posted < n {
				slot[post(d, q, &reqs[j], w.next()/blk.SECTOR_SIZE, bufs)] = j
				posted++
				q.Notify()
			}
		}
		t := time.Since(t0)
		d.AllocRelease(mark)
		return t
	}
	raw := func(n int) time.Duration {
		t0 := time.Now()
		for i := range n {
			dst := dsts[i%len(dsts)]
			if m, err := unix.Pread(fd, dst, int64(w.next())); err != nil || m != len(dst) {
				b.Fatalf("pread: %d, %v", m, err)
			}
		}
		return time.Since(t0)
	}
	device := e2e
	if mode == modeModel {
		device = model
	}

	var devTime, rawTime time.Duration
	round := max(8*w.qd, 64*4096/w.size)
	b.ResetTimer()
	for left := b.N; left > 0; left -= round {
		n := min(left, round)
		devTime += device(n)
		rawTime += raw(n)
	}
	b.StopTimer()
	devRate := float64(b.N) / devTime.Seconds() * perOp
	rawRate := float64(b.N) / rawTime.Seconds() * perOp
	b.ReportMetric(devRate, "dev-"+unit)
	b.ReportMetric(rawRate, "raw-"+unit)
	b.ReportMetric(devRate/rawRate, "dev/raw")
}

// BenchmarkRandRead4K: 4 KiB reads at random 4 KiB-aligned offsets, each
// request one data descriptor (header, data, status) as Linux issues a
// 4 KiB read. Reports IOPS.
func BenchmarkRandRead4K(b *testing.B) {
	for _, mode := range []string{modeModel, modeE2E} {
		for _, qd := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/qd%d", mode, qd), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				next := func() uint64 { return rng.Uint64N(benchFileSize/4096) * 4096 }
				run(b, mode, workload{qd: qd, size: 4096, segs: 1, next: next}, "IOPS", 1)
			})
		}
	}
}

// BenchmarkSeqRead1M: 1 MiB sequential reads, each request 128 segments of
// 8 KiB, guest-contiguous, through an indirect table. Reports MB/s.
func BenchmarkSeqRead1M(b *testing.B) {
	for _, mode := range []string{modeModel, modeE2E} {
		for _, qd := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/qd%d", mode, qd), func(b *testing.B) {
				var off uint64
				next := func() uint64 {
					o := off
					off = (off + 1<<20) % benchFileSize
					return o
				}
				run(b, mode, workload{qd: qd, size: 1 << 20, segs: 128, next: next}, "MB/s", 1<<20/1e6)
			})
		}
	}
}
