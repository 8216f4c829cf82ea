package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// drainGrace is how long output may still arrive after the process exited
// (a grandchild holding stdout open cannot keep a run waiting longer).
const drainGrace = 2 * time.Second

// tailBytes is how much of a run's output is kept for failure reports.
const tailBytes = 4096

// procRun is one measured run of a command.
type procRun struct {
	Marker   bool          // the marker appeared on stdout
	ToMarker time.Duration // spawn → the read that completed the marker
	ToExit   time.Duration // spawn → process exit
	ExitCode int           // -1 when killed or never started
	TimedOut bool
	Err      error  // start failure, or why the run was stopped
	Tail     string // the end of stdout and stderr together
}

// measure starts argv with stdin on /dev/null and measures the wall time
// from spawning it to the first occurrence of marker on its stdout (none
// when marker is "") and to its exit. It kills the process group after
// timeout, exitGrace after the marker (0: no such limit) or when ctx ends.
func measure(ctx context.Context, argv []string, marker string, timeout, exitGrace time.Duration) procRun {
	r := procRun{ExitCode: -1}
	pr, pw, err := os.Pipe()
	if err != nil {
		r.Err = err
		return r
	}
	defer pr.Close()
	tail := &tailBuffer{max: tailBytes}

	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = pw
	cmd.Stderr = tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = drainGrace // stderr copying, should a grandchild keep it open

	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		r.Err = err
		return r
	}
	pw.Close() // the child holds the only write end now: EOF when it is gone

	found := make(chan time.Duration, 1)
	readDone := make(chan struct{})
	var grace *time.Timer
	var graceMu sync.Mutex
	go func() {
		defer close(readDone)
		scanMarker(pr, tail, marker, func() {
			found <- time.Since(t0)
			if exitGrace > 0 {
				graceMu.Lock()
				grace = time.AfterFunc(exitGrace, func() {
					cancel(fmt.Errorf("no exit within %v after the marker", exitGrace))
				})
				graceMu.Unlock()
			}
		})
	}()
	defer func() {
		graceMu.Lock()
		if grace != nil {
			grace.Stop()
		}
		graceMu.Unlock()
	}()

	werr := cmd.Wait()
	r.ToExit = time.Since(t0)
	ctxErr, cause := ctx.Err(), context.Cause(ctx)
	_ = pr.SetReadDeadline(time.Now().Add(drainGrace))
	<-readDone
	select {
	case d := <-found:
		r.Marker, r.ToMarker = true, d
	default:
	}
	r.Tail = tail.String()

	var exitErr *exec.ExitError
	switch {
	case ctxErr != nil:
		r.TimedOut = errors.Is(cause, context.DeadlineExceeded)
		switch {
		case r.TimedOut:
			r.Err = fmt.Errorf("timed out after %v", timeout)
		case errors.Is(cause, context.Canceled):
			r.Err = fmt.Errorf("stopped: %w", cause)
		default:
			r.Err = cause // the exit grace ran out
		}
	case werr == nil:
		r.ExitCode = 0
	case errors.As(werr, &exitErr):
		r.ExitCode = exitErr.ExitCode() // -1 when killed by a signal
		if r.ExitCode < 0 {
			r.Err = fmt.Errorf("killed: %v", exitErr)
		}
	default:
		r.Err = werr
	}
	return r
}

// scanMarker copies r to tail and calls onFound once, as soon as marker has
// appeared in the stream (also across read boundaries).
func scanMarker(r io.Reader, tail io.Writer, marker string, onFound func()) {
	m := []byte(marker)
	var window []byte // the last len(marker)-1 bytes seen, then the new chunk
	done := len(m) == 0
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = tail.Write(buf[:n])
			if !done {
				window = append(window, buf[:n]...)
				if bytes.Contains(window, m) {
					done = true
					onFound()
				} else if keep := len(m) - 1; len(window) > keep {
					window = append(window[:0], window[len(window)-keep:]...)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// lastLines returns at most n of the last lines of s, each prefixed with
// indent, carriage returns dropped (serial consoles write CRLF).
func lastLines(s string, n int, indent string) string {
	s = strings.TrimRight(strings.ReplaceAll(s, "\r", ""), "\n")
	if s == "" {
		return indent + "(no output)\n"
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(indent)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
