package vmm

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
)

// BenchmarkIOExitRoundTrip measures one I/O-exit round trip through hull's
// full vCPU loop (KVM_RUN, exit decoding, the port-I/O bus): the ioloop test
// guest does b.N one-byte OUTs to port 0xf5, where no device listens, then
// exits through the exit port. The first KVM_RUN -> stopped span of a run
// with n=0 (boot, console output, stop) is subtracted; the rest divided by
// b.N is reported as ns/exit. `hull bench ioexit` measures the same beside a
// minimal C loop (tests/bench/ioexit.c) in one invocation.
//
// Needs /dev/kvm and HULL_TEST_GUESTS (tests/guest/build); skips otherwise.
func BenchmarkIOExitRoundTrip(b *testing.B) {
	testtier.RequireKVM(b)
	guest := benchIOLoopGuest(b)
	base := benchIOLoopSpan(b, guest, 0)
	b.ResetTimer()
	span := benchIOLoopSpan(b, guest, b.N)
	b.StopTimer()
	b.ReportMetric(float64(span-base)/float64(b.N), "ns/exit")
}

// benchIOLoopGuest returns the ioloop guest's path or skips b with one line.
func benchIOLoopGuest(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("HULL_TEST_GUESTS")
	if dir == "" {
		b.Skip("no test guests: HULL_TEST_GUESTS is not set (make -C tests/guest, then HULL_TEST_GUESTS=$PWD/tests/guest/build)")
	}
	p := filepath.Join(dir, "ioloop.elf")
	if _, err := os.Stat(p); err != nil {
		b.Skipf("no ioloop test guest: %v (make -C tests/guest)", err)
	}
	return p
}

// benchIOLoopSpan runs the ioloop guest with n exits and returns the time
// from its first KVM_RUN to the VM stopped.
func benchIOLoopSpan(b *testing.B, guest string, n int) time.Duration {
	b.Helper()
	exit, err := Run(context.Background(), Config{Kernel: guest, Cmdline: "n=" + strconv.Itoa(n), MemMiB: 64, TestExitPort: true})
	if err != nil {
		b.Fatalf("ioloop n=%d: %v", n, err)
	}
	if exit.Reason != ReasonGuestExit || exit.Code != 0 {
		b.Fatalf("ioloop n=%d stopped with %s (code %d), want a guest exit with code 0", n, exit, exit.Code)
	}
	first, ok1 := exit.Timeline.Lookup(EventFirstKVMRun)
	stopped, ok2 := exit.Timeline.Lookup(EventStopped)
	if !ok1 || !ok2 {
		b.Fatalf("ioloop n=%d: timeline lacks %q or %q: %v", n, EventFirstKVMRun, EventStopped, exit.Timeline)
	}
	return stopped - first
}
