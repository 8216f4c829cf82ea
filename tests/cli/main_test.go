package clitests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/hulltest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hulltest.Cleanup()
	os.Exit(code)
}

// hullBin returns the hull binary under test.
func hullBin(t *testing.T) string { return hulltest.Bin(t) }

// result is one finished hull process.
type result struct {
	stdout, stderr string
	status         int
}

// hull runs the hull binary with args, stdin empty, with a time limit.
func hull(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hullBin(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("hull %s: still running after 30 s", strings.Join(args, " "))
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// wantOneLineError checks the shape of every failure: a non-zero status,
// nothing on stdout, and exactly one line on stderr that is no Go panic.
func wantOneLineError(t *testing.T, r result) {
	t.Helper()
	if r.status == 0 {
		t.Errorf("exit status 0, want non-zero")
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") || strings.TrimSpace(r.stderr) == "" {
		t.Errorf("stderr is not one line:\n%s", r.stderr)
	}
	for _, bad := range []string{"goroutine", "panic"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr mentions %q:\n%s", bad, r.stderr)
		}
	}
}
