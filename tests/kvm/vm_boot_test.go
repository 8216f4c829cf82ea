package kvmtests

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/tests/guest/guesttest"
	"github.com/hullvm/hull/vmm"
)

// hullBoot runs `hull vm boot --kernel <guest> ARGS...` and returns its
// stdout, stderr and exit status. The bad-input cases that need no KVM are in
// tests/cli.
func hullBoot(t *testing.T, guest string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	testtier.RequireKVM(t)
	bin := testtier.RequireFile(t, envBin, "hull binary (bin/hull)")
	kernel := guestELF(t, guest)
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"vm", "boot", "--kernel", kernel}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%v did not finish within %v; stdout %q stderr %q", cmd.Args, guestTimeout, o.String(), e.String())
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	stderr = e.String()
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr holds a Go panic trace:\n%s", stderr)
	}
	return o.String(), stderr, status
}

func TestCLIBootHello(t *testing.T) {
	out, errOut, status := hullBoot(t, "hello", "--test-exit-port")
	if status != 0 {
		t.Errorf("exit status %d, want 0; stderr %q", status, errOut)
	}
	if want := guesttest.HelloLine + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

// TestCLIBootExitCode: with --test-exit-port the guest's code is hull's.
func TestCLIBootExitCode(t *testing.T) {
	out, errOut, status := hullBoot(t, "exitcode", "--test-exit-port")
	if status != guesttest.ExitcodeCode {
		t.Errorf("exit status %d, want %d; stderr %q", status, guesttest.ExitcodeCode, errOut)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
}

// TestCLIBootTripleFault: a stop other than a guest exit is a distinct status
// and one line on stderr.
func TestCLIBootTripleFault(t *testing.T) {
	out, errOut, status := hullBoot(t, "triplefault", "--test-exit-port")
	if status != vmm.ExitCodeTripleFault {
		t.Errorf("exit status %d, want %d", status, vmm.ExitCodeTripleFault)
	}
	if want := guesttest.TripleFaultLine + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "triple fault") {
		t.Errorf("stderr %q, want one line saying \"triple fault\"", errOut)
	}
}

// TestCLIBootNoExitPort: without the exit device a guest's exit falls back to
// an i8042 reset (lib.c), which is a clean stop: status 0, quiet stderr.
func TestCLIBootNoExitPort(t *testing.T) {
	out, errOut, status := hullBoot(t, "exitcode")
	if status != 0 {
		t.Errorf("exit status %d, want 0 (reset); stderr %q", status, errOut)
	}
	if out != "" || errOut != "" {
		t.Errorf("stdout %q stderr %q, want neither", out, errOut)
	}
}
