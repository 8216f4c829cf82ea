package kvmtests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/tests/guest/guesttest"
	"github.com/hullvm/hull/vmm"
)

// Environment variables (see the package doc).
const (
	envGuests      = "HULL_TEST_GUESTS"
	envKernel      = "HULL_TEST_KERNEL"
	envInit        = "HULL_TEST_INIT"
	envBin         = "HULL_BIN"
	envKernelArgs  = "HULL_TEST_KERNEL_ARGS"
	envImageKernel = "HULL_TEST_IMAGE_KERNEL"
	envImageInitrd = "HULL_TEST_IMAGE_INITRD"
)

// Limits for one VM run. Generous: under the nested runner every exit costs
// about 80 µs and a Linux boot takes seconds (DESIGN.md §6).
const (
	guestTimeout = 60 * time.Second
	linuxTimeout = 180 * time.Second
)

// guestELF returns the path of test guest name, skipping t (failing it under
// HULL_REQUIRE_KVM=1, like testtier.RequireFile) when it has not been built.
func guestELF(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(envGuests)
	if dir == "" {
		dir = filepath.Join("..", "guest", "build")
	}
	p := guesttest.Path(dir, name)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("no test guest %s: %v (run `make -C tests/guest` or set %s)", name, err, envGuests)
		if os.Getenv(testtier.EnvRequireKVM) == "1" {
			t.Fatalf("%s (%s=1: this test must not be skipped)", msg, testtier.EnvRequireKVM)
		}
		t.Skip(msg)
	}
	return p
}

// console collects serial output from the vCPU threads and notes when given
// markers first appear in it.
type console struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	markers map[string]*marker
}

type marker struct {
	seen chan struct{} // closed when the marker appears
	at   time.Time
}

func newConsole(markers ...string) *console {
	c := &console{markers: map[string]*marker{}}
	for _, m := range markers {
		c.markers[m] = &marker{seen: make(chan struct{})}
	}
	return c
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.buf.Len()
	c.buf.Write(p)
	for s, m := range c.markers {
		if !m.at.IsZero() {
			continue
		}
		// Only the new bytes and the marker's length before them can hold a
		// new occurrence.
		from := max(0, start-len(s)+1)
		if bytes.Contains(c.buf.Bytes()[from:], []byte(s)) {
			m.at = time.Now()
			close(m.seen)
		}
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// seen returns a channel closed once marker s (given to newConsole) appears.
func (c *console) seen(s string) <-chan struct{} { return c.markers[s].seen }

// seenAt returns when marker s first appeared, zero if it has not.
func (c *console) seenAt(s string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.markers[s].at
}

// result is one finished VM run.
type result struct {
	exit  *vmm.Exit
	out   string        // everything the guest wrote to the serial port
	start time.Time     // just before vmm.Run
	wall  time.Duration // vmm.Run's duration
	con   *console
}

// boot runs cfg to the end with the guest's serial output captured, failing
// t when the VM cannot be built or does not stop within timeout. On failure
// the console output is logged.
func boot(t testing.TB, cfg vmm.Config, timeout time.Duration, markers ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	con := newConsole(markers...)
	cfg.Console = con
	start := time.Now()
	// vmm.Run honours ctx once the VM runs; if it has not returned well
	// after the deadline, it is stuck before (building the VM) or in
	// teardown: say where, from Go's side and the kernel's.
	wd := time.AfterFunc(timeout+20*time.Second, func() { dumpStuck(filepath.Base(cfg.Kernel), timeout+20*time.Second) })
	defer wd.Stop()
	exit, err := vmm.Run(ctx, cfg)
	r := result{exit: exit, out: con.String(), start: start, wall: time.Since(start), con: con}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console output of %s (%d bytes):\n%s", filepath.Base(cfg.Kernel), len(r.out), clip(r.out))
		}
	})
	switch {
	case err != nil:
		t.Fatalf("vmm.Run(%s): %v", cfg.Kernel, err)
	case exit == nil:
		t.Fatalf("vmm.Run(%s) returned neither an Exit nor an error", cfg.Kernel)
	case exit.Reason == vmm.ReasonCancelled && ctx.Err() != nil:
		t.Fatalf("%s did not stop within %v (%s)", filepath.Base(cfg.Kernel), timeout, exit.Message)
	}
	return r
}

// bootGuest runs test guest name with the exit port on.
func bootGuest(t testing.TB, name string, cfg vmm.Config, markers ...string) result {
	t.Helper()
	testtier.RequireKVM(t)
	cfg.Kernel = guestELF(t, name)
	cfg.TestExitPort = true
	return boot(t, cfg, guestTimeout, markers...)
}

// wantStop checks how the VM stopped; code matters for ReasonGuestExit only.
func wantStop(t testing.TB, r result, reason vmm.Reason, code int) {
	t.Helper()
	e := r.exit
	if e.Reason != reason {
		t.Fatalf("VM stopped with %q (%s), want %q", e.Reason, e.Message, reason)
	}
	if reason == vmm.ReasonGuestExit && e.Code != code {
		t.Fatalf("guest exit code %d (%s), want %d", e.Code, e.Message, code)
	}
}

// wantOutput checks the whole console output.
func wantOutput(t testing.TB, r result, want string) {
	t.Helper()
	if r.out != want {
		t.Errorf("console output (%d bytes):\n%q\nwant (%d bytes):\n%q", len(r.out), clip(r.out), len(want), clip(want))
	}
}

// clip shortens long output for messages.
func clip(s string) string {
	const keep = 2000
	if len(s) <= 2*keep {
		return s
	}
	return s[:keep] + fmt.Sprintf("\n[... %d bytes ...]\n", len(s)-2*keep) + s[len(s)-keep:]
}

// lineWith returns the first line of out that contains s, "" if none.
func lineWith(out, s string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, s) {
			return strings.TrimRight(line, "\r\n")
		}
	}
	return ""
}

// dumpStuck writes every goroutine's stack and, per OS thread, the kernel's
// view (wchan, syscall, kernel stack: readable as root) to stderr.
func dumpStuck(what string, after time.Duration) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	fmt.Fprintf(os.Stderr, "kvmtests: vmm.Run(%s) has not returned after %v; goroutines:\n%s\n", what, after, buf)
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, task := range tasks {
		var b strings.Builder
		for _, f := range []string{"comm", "wchan", "syscall", "stack"} {
			data, err := os.ReadFile(filepath.Join(task, f))
			if err != nil {
				data = []byte(err.Error())
			}
			fmt.Fprintf(&b, "  %s: %s\n", f, strings.TrimSpace(string(data)))
		}
		fmt.Fprintf(os.Stderr, "thread %s:\n%s", filepath.Base(task), b.String())
	}
}
