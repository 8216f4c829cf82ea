package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestMeasureFindsMarker(t *testing.T) {
	r := measure(context.Background(), sh("echo booting; sleep 0.2; echo 'hello-init: pid=1'; sleep 0.2"), "hello-init:", 10*time.Second, 0)
	if r.Err != nil || r.ExitCode != 0 {
		t.Fatalf("measure: err %v, exit %d, output %q", r.Err, r.ExitCode, r.Tail)
	}
	if !r.Marker {
		t.Fatalf("marker not found in %q", r.Tail)
	}
	if r.ToMarker < 200*time.Millisecond || r.ToMarker > r.ToExit {
		t.Errorf("ToMarker = %v, want >= 200ms and <= ToExit %v", r.ToMarker, r.ToExit)
	}
	if r.ToExit-r.ToMarker < 150*time.Millisecond {
		t.Errorf("ToExit %v is not about 200ms after ToMarker %v: the marker was timed at exit", r.ToExit, r.ToMarker)
	}
	if !strings.Contains(r.Tail, "booting\nhello-init: pid=1\n") {
		t.Errorf("Tail = %q", r.Tail)
	}
}

func TestMeasureMissingMarkerAndExitStatus(t *testing.T) {
	r := measure(context.Background(), sh("echo 'Kernel panic'; echo oops >&2; exit 3"), "hello-init:", 10*time.Second, 0)
	if r.Err != nil {
		t.Fatalf("err %v", r.Err)
	}
	if r.Marker || r.ExitCode != 3 {
		t.Errorf("Marker %v, ExitCode %d; want false, 3", r.Marker, r.ExitCode)
	}
	if !strings.Contains(r.Tail, "Kernel panic") || !strings.Contains(r.Tail, "oops") {
		t.Errorf("Tail %q lacks stdout or stderr", r.Tail)
	}
	b := bootRun("hull", r, "hello-init:")
	if b.OK || !strings.Contains(b.Failure, `no "hello-init:"`) || b.Tail == "" {
		t.Errorf("bootRun = %+v, want a failure with the output tail", b)
	}
}

func TestMeasureTimeoutKillsProcessGroup(t *testing.T) {
	start := time.Now()
	// The grandchild sleep holds stdout: only killing the group ends the run quickly.
	r := measure(context.Background(), sh("echo starting; sleep 30 & wait"), "hello-init:", 300*time.Millisecond, 0)
	if !r.TimedOut || r.Err == nil || !strings.Contains(r.Err.Error(), "timed out") {
		t.Errorf("TimedOut %v, Err %v; want a timeout", r.TimedOut, r.Err)
	}
	if el := time.Since(start); el > drainGrace {
		t.Errorf("measure took %v after a 300ms timeout", el)
	}
	if !strings.Contains(r.Tail, "starting") {
		t.Errorf("Tail = %q", r.Tail)
	}
	if b := bootRun("qemu", r, "x"); b.OK || !strings.Contains(b.Failure, "timed out") {
		t.Errorf("bootRun = %+v", b)
	}
}

func TestMeasureStartFailure(t *testing.T) {
	r := measure(context.Background(), []string{"/nonexistent/hull"}, "x", time.Second, 0)
	if r.Err == nil || r.ExitCode != -1 {
		t.Errorf("Err %v, ExitCode %d", r.Err, r.ExitCode)
	}
}

func TestMeasureCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := measure(ctx, sh("sleep 30"), "x", 10*time.Second, 0)
	if r.TimedOut || r.Err == nil || !strings.Contains(r.Err.Error(), "stopped") {
		t.Errorf("TimedOut %v, Err %v; want stopped", r.TimedOut, r.Err)
	}
}

func TestMeasureExitGraceAfterMarker(t *testing.T) {
	start := time.Now()
	r := measure(context.Background(), sh("echo 'hello-init: pid=1'; sleep 30"), "hello-init:", 10*time.Second, 200*time.Millisecond)
	if !r.Marker || r.TimedOut || r.Err == nil || !strings.Contains(r.Err.Error(), "no exit within 200ms after the marker") {
		t.Errorf("Marker %v, TimedOut %v, Err %v; want the marker, then the grace error", r.Marker, r.TimedOut, r.Err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
	b := bootRun("qemu", r, "hello-init:")
	if b.OK || !strings.Contains(b.Failure, "no exit within") {
		t.Errorf("bootRun = %+v", b)
	}
	// a process that exits in time is not touched by the grace
	r = measure(context.Background(), sh("echo 'hello-init: pid=1'; sleep 0.1"), "hello-init:", 10*time.Second, 2*time.Second)
	if r.Err != nil || r.ExitCode != 0 {
		t.Errorf("Err %v, ExitCode %d", r.Err, r.ExitCode)
	}
}

func TestScanMarkerAcrossReads(t *testing.T) {
	for _, tc := range []struct {
		in, marker string
		want       bool
	}{
		{"abc\r\nhello-init: pid=1\r\n", "hello-init:", true},
		{"hello-ini", "hello-init:", false},
		{"hhello-init:", "hello-init:", true},
		{"anything", "", false}, // no marker: never "found"
	} {
		var tail strings.Builder
		found := 0
		scanMarker(iotest.OneByteReader(strings.NewReader(tc.in)), &tail, tc.marker, func() { found++ })
		if (found == 1) != tc.want || found > 1 {
			t.Errorf("scanMarker(%q, %q): found %d times, want %v", tc.in, tc.marker, found, tc.want)
		}
		if tail.String() != tc.in {
			t.Errorf("tail = %q, want %q", tail.String(), tc.in)
		}
	}
	// big chunks with the marker split between two of them
	r := io.MultiReader(strings.NewReader(strings.Repeat("x", 40000)+"hello-"), strings.NewReader("init: ok"))
	found := false
	scanMarker(r, io.Discard, "hello-init:", func() { found = true })
	if !found {
		t.Error("marker split across two reads not found")
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	tb := &tailBuffer{max: 8}
	_, _ = tb.Write([]byte("0123456789"))
	_, _ = tb.Write([]byte("ab"))
	if got := tb.String(); got != "456789ab" {
		t.Errorf("tail = %q", got)
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\r\nb\r\nc\r\n", 2, "| "); got != "| b\n| c\n" {
		t.Errorf("lastLines = %q", got)
	}
	if got := lastLines("", 2, "| "); got != "| (no output)\n" {
		t.Errorf("lastLines(empty) = %q", got)
	}
}
