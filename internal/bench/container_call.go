package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// callResult is one runtime process.
type callResult struct {
	dur            time.Duration // spawn → exit
	exitCode       int           // -1 when killed or never started
	stdout, stderr []byte
	err            error // start failure, time-out, or a judgement of the output
}

func (c *callResult) failed() bool { return c.err != nil || c.exitCode != 0 }

func (c *callResult) why() string {
	if c.err != nil {
		return c.err.Error()
	}
	return fmt.Sprintf("exit status %d", c.exitCode)
}

// output is the end of the call's stdout and stderr, for failure reports.
func (c *callResult) output() string {
	b := append(append([]byte(nil), c.stdout...), c.stderr...)
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	return string(b)
}

// call runs the runtime with args and times spawn → exit. Its stdout and
// stderr are files, not pipes: a created container inherits create's (as
// with runc), and a pipe would keep the call waiting for the container.
// Stdin is /dev/null. The call's process group is killed after timeout or
// when ctx ends.
func (rt *runtimeCLI) call(ctx context.Context, timeout time.Duration, args ...string) callResult {
	c := callResult{exitCode: -1}
	out, err := os.CreateTemp(rt.tmp, "stdout-")
	if err != nil {
		c.err = err
		return c
	}
	defer os.Remove(out.Name())
	defer out.Close()
	errf, err := os.CreateTemp(rt.tmp, "stderr-")
	if err != nil {
		c.err = err
		return c
	}
	defer os.Remove(errf.Name())
	defer errf.Close()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := append(append([]string(nil), rt.argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	t0 := time.Now()
	werr := cmd.Run()
	c.dur = time.Since(t0)
	c.stdout, _ = os.ReadFile(out.Name())
	c.stderr, _ = os.ReadFile(errf.Name())

	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.err = fmt.Errorf("%s timed out after %v", args[0], timeout)
		} else {
			c.err = fmt.Errorf("stopped: %w", ctx.Err())
		}
	case werr == nil:
		c.exitCode = 0
	case errors.As(werr, &exitErr):
		c.exitCode = exitErr.ExitCode()
		if c.exitCode < 0 {
			c.err = fmt.Errorf("killed: %v", exitErr)
		}
	default:
		c.err = werr
	}
	return c
}

// forceDelete removes what a failed run may have left: the container's
// state and processes. Not timed; errors ignored (there may be nothing).
func (rt *runtimeCLI) forceDelete(id string) {
	_ = rt.call(context.Background(), 10*time.Second, "delete", "--force", id)
}

func runcVersion(ctx context.Context, runc string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, runc, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
