package net

import (
	"fmt"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// BenchmarkTx sends frames from the harness (the guest driver) through the
// device into a real TAP interface (up, with nothing listening: the host
// stack drops each frame after the packet taps), and in the same rounds
// writes the same frames, header included, from the same guest memory
// straight to the same TAP file descriptor, so both see the same host
// load. Reported: the device's and the raw writes' frames per second and
// their ratio. Needs root (a TAP); skips with one line otherwise.
//
// Modes, as the blk benchmarks: model/batchN posts N chains without
// notifying and times the device's Kick on the benchmark goroutine (chain
// walk, header check, writev, used ring, interrupt decision); e2e/depthN
// keeps N frames in flight through the transport (eventfd kick, the
// worker thread, the interrupt eventfd), everything timed.
func BenchmarkTx(b *testing.B) {
	testtier.RequireRoot(b)
	for _, size := range []int{60, 1514} {
		for _, m := range []struct {
			mode string
			n    int
		}{{modeModel, 32}, {modeModel, 1}, {modeE2E, 32}} {
			name := fmt.Sprintf("%dB/%s/", size, m.mode)
			if m.mode == modeModel {
				name += fmt.Sprintf("batch%d", m.n)
			} else {
				name += fmt.Sprintf("depth%d", m.n)
			}
			b.Run(name, func(b *testing.B) { benchTx(b, size, m.mode, m.n) })
		}
	}
}

const (
	modeModel = "model"
	modeE2E   = "e2e"
)

func benchTx(b *testing.B, size int, mode string, n int) {
	tap, _ := openTestTAP(b, "hullbn%d")
	dev, err := New(tap, Options{MAC: testMAC})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dev.Close() })
	d := vt.New(b, dev, vt.Options{MemSize: 32 << 20})
	d.Init(fAll)
	d.SetupQueue(rxq, QueueSize)
	q := d.SetupQueue(txq, QueueSize)
	d.DriverOK()

	// n frames in guest memory: header and frame in one buffer, as Linux
	// sends a frame whose header it pushed into the skb's headroom.
	frames := make([]vt.Buf, n)
	raw := make([][]byte, n)
	for i := range frames {
		p := append(netHdr(0, 0, 0, 0, 0, 0, 0), ethFrame(size, byte(i))...)
		a := d.Put(p)
		frames[i] = vt.Buf{Addr: a, Len: uint32(len(p))}
		if raw[i], err = d.Mem.Slice(a, uint64(len(p))); err != nil {
			b.Fatal(err)
		}
	}
	slot := make([]int, QueueSize) // head -> frame
	model := func(count int) time.Duration {
		var t time.Duration
		for done := 0; done < count; {
			m := min(n, count-done)
			for j := range m {
				q.Add(frames[j])
			}
			t0 := time.Now()
			if err := dev.Kick(txq); err != nil {
				b.Fatal(err)
			}
			t += time.Since(t0)
			for range m {
				if _, ok := q.Next(); !ok {
					b.Fatal("a frame was not completed")
				}
			}
			done += m
		}
		return t
	}
	e2e := func(count int) time.Duration {
		t0 := time.Now()
		posted, done := 0, 0
		for ; posted < min(n, count); posted++ {
			slot[q.Add(frames[posted])] = posted
		}
		q.Notify()
		for done < count {
			u := q.Wait()
			done++
			if posted < count {
				j := slot[u.ID]
				slot[q.Add(frames[j])] = j
				posted++
				q.Notify()
			}
		}
		return time.Since(t0)
	}
	// The raw writes are timed in batches of n too, so that both sides
	// carry the same clock-reading overhead.
	rawWrite := func(count int) time.Duration {
		var t time.Duration
		for done := 0; done < count; {
			m := min(n, count-done)
			t0 := time.Now()
			for j := range m {
				if _, err := tap.Write(raw[j : j+1]); err != nil {
					b.Fatalf("raw TAP write: %v", err)
				}
			}
			t += time.Since(t0)
			done += m
		}
		return t
	}
	device := e2e
	if mode == modeModel {
		device = model
	}

	var devTime, rawTime time.Duration
	round := max(8*n, 256)
	b.ResetTimer()
	for left := b.N; left > 0; left -= round {
		c := min(left, round)
		devTime += device(c)
		rawTime += rawWrite(c)
	}
	b.StopTimer()
	if got := dev.Stats.TxFrames.Load(); got != uint64(b.N) {
		b.Fatalf("%d frames reached the TAP, want %d (dropped %d)", got, b.N, dev.Stats.TxDropped.Load())
	}
	devRate := float64(b.N) / devTime.Seconds()
	rawRate := float64(b.N) / rawTime.Seconds()
	b.ReportMetric(devRate, "dev-pps")
	b.ReportMetric(rawRate, "raw-pps")
	b.ReportMetric(devRate/rawRate, "dev/raw")
}
