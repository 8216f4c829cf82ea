package kvmtests

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/hullvm/hull/tests/guest/guesttest"
	"github.com/hullvm/hull/vmm"
)

// BenchmarkIOExitGuest boots ioloop with n = b.N: b.N writes to a port with
// no device, each a KVM_EXIT_IO to hull and back. It reports ns/exit with the
// fixed cost of a run (measured with n=0) taken off; ns/op includes it.
func BenchmarkIOExitGuest(b *testing.B) {
	if b.N > math.MaxUint32 {
		b.Fatalf("b.N = %d does not fit the guest's 32-bit counter", b.N)
	}
	run := func(n uint32) time.Duration {
		r := bootGuest(b, "ioloop", vmm.Config{Cmdline: guesttest.IOLoopCmdline(n)})
		wantStop(b, r, vmm.ReasonGuestExit, 0)
		if want := guesttest.IOLoopStart(n) + "\n" + guesttest.IOLoopDone + "\n"; r.out != want {
			b.Fatalf("console %q, want %q", r.out, want)
		}
		return r.wall
	}
	b.StopTimer()
	base := baseline(b, run)
	b.StartTimer()
	wall := run(uint32(b.N))
	b.StopTimer()
	b.ReportMetric(max(0, float64(wall-base))/float64(b.N), "ns/exit")
}

// The wall time of an ioloop run with n=0 (boot, two lines of output, exit),
// measured once per process and taken off every timed run, so that ns/exit
// is the cost of one I/O exit round trip.
var (
	baselineOnce sync.Once
	baselineWall time.Duration
)

// baseline measures the n=0 run (the best of three).
func baseline(b *testing.B, run func(uint32) time.Duration) time.Duration {
	baselineOnce.Do(func() {
		baselineWall = time.Duration(math.MaxInt64)
		for range 3 {
			baselineWall = min(baselineWall, run(0))
		}
		b.Logf("ioloop n=0 (boot and exit): %v", baselineWall)
	})
	return baselineWall
}
