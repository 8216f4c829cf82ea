package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// I/O-exit benchmark defaults.
const (
	DefaultIOExits       = 200000
	DefaultIOExitTimeout = 5 * time.Minute // per process: 200000 exits at ~80 µs (nested) is 16 s
	ioExitGuestMemMiB    = 64
)

// IOExitOptions configures RunIOExit.
type IOExitOptions struct {
	Hull      string // the hull executable; each VM is `Hull vm boot --test-exit-port ...`
	Guest     string // tests/guest/build/ioloop.elf
	N         int    // I/O exits per measured run (DefaultIOExits when 0)
	CBaseline string // tests/bench/build/ioexit; "" for hull alone
	Rounds    int    // rounds of (hull n, hull 0, C n); 1 when 0
	Timeout   time.Duration
	Progress  io.Writer
}

// IOExitRound is one round's figures, in ns per exit.
type IOExitRound struct {
	Round       int           `json:"round"`
	HullSpanN   time.Duration `json:"hull_span_n_ns"` // first KVM_RUN -> stopped with N exits
	HullSpan0   time.Duration `json:"hull_span_0_ns"` // ... with none
	HullPerExit float64       `json:"hull_ns_per_exit"`
	CPerExit    float64       `json:"c_ns_per_exit,omitempty"`
}

// IOExitReport is the outcome of RunIOExit.
type IOExitReport struct {
	N         int              `json:"n"`
	Guest     string           `json:"guest"`
	CBaseline string           `json:"c_baseline,omitempty"`
	Rounds    []IOExitRound    `json:"rounds"`
	Hull      Summary[float64] `json:"hull_ns_per_exit"`
	C         Summary[float64] `json:"c_ns_per_exit"`
	Ratio     float64          `json:"ratio_p50"` // hull / C, 0 without C
}

// RunIOExit measures the I/O-exit round trip of hull's vCPU loop: per round
// it boots the ioloop test guest with n=N and with n=0 and divides the
// difference of their first KVM_RUN -> stopped spans by N; then it runs the C
// baseline with N, so both figures come from the same invocation.
func RunIOExit(ctx context.Context, o IOExitOptions) (*IOExitReport, error) {
	if o.N <= 0 {
		o.N = DefaultIOExits
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultIOExitTimeout
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Hull == "" || o.Guest == "" {
		return nil, errors.New("bench ioexit: hull and the ioloop guest are required")
	}
	paths := []string{o.Guest}
	if o.CBaseline != "" {
		paths = append(paths, o.CBaseline)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("bench ioexit: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "hull-bench-ioexit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	rep := &IOExitReport{N: o.N, Guest: o.Guest, CBaseline: o.CBaseline}
	for i := 1; i <= o.Rounds; i++ {
		r := IOExitRound{Round: i}
		if r.HullSpanN, err = ioloopSpan(ctx, &o, o.N, tmp); err != nil {
			return nil, err
		}
		if r.HullSpan0, err = ioloopSpan(ctx, &o, 0, tmp); err != nil {
			return nil, err
		}
		r.HullPerExit = float64(r.HullSpanN-r.HullSpan0) / float64(o.N)
		line := fmt.Sprintf("hull %s/exit (n=%d: %s, n=0: %s)", nsPer(r.HullPerExit), o.N, ms(r.HullSpanN), ms(r.HullSpan0))
		if o.CBaseline != "" {
			if r.CPerExit, err = runCBaseline(ctx, &o); err != nil {
				return nil, err
			}
			line += fmt.Sprintf(", C %s/exit", nsPer(r.CPerExit))
		}
		fmt.Fprintf(o.Progress, "bench ioexit: round %d/%d: %s\n", i, o.Rounds, line)
		rep.Rounds = append(rep.Rounds, r)
	}
	var hull, c []float64
	for _, r := range rep.Rounds {
		hull = append(hull, r.HullPerExit)
		if o.CBaseline != "" {
			c = append(c, r.CPerExit)
		}
	}
	rep.Hull, rep.C = Summarize(hull), Summarize(c)
	if rep.C.N > 0 && rep.C.P50 > 0 {
		rep.Ratio = rep.Hull.P50 / rep.C.P50
	}
	return rep, nil
}

// ioloopSpan boots the ioloop guest with n exits and returns its
// first KVM_RUN -> stopped span.
func ioloopSpan(ctx context.Context, o *IOExitOptions, n int, tmp string) (time.Duration, error) {
	tl := filepath.Join(tmp, "timeline-"+strconv.Itoa(n)+".json")
	_ = os.Remove(tl)
	argv := []string{o.Hull, "vm", "boot", "--kernel", o.Guest, "--test-exit-port", "--cmdline", "n=" + strconv.Itoa(n),
		"--mem", strconv.Itoa(ioExitGuestMemMiB), "--cpus", "1", "--timeline-json", tl}
	p := measure(ctx, argv, "ioloop: done", o.Timeout, 0)
	switch {
	case p.Err != nil:
		return 0, fmt.Errorf("bench ioexit: hull with n=%d: %v; end of its output:\n%s", n, p.Err, lastLines(p.Tail, failureOutputLines, "  | "))
	case p.ExitCode != 0 || !p.Marker:
		return 0, fmt.Errorf("bench ioexit: hull with n=%d: exit status %d, \"ioloop: done\" seen: %v; end of its output:\n%s",
			n, p.ExitCode, p.Marker, lastLines(p.Tail, failureOutputLines, "  | "))
	}
	vr, err := readVMReport(tl)
	if err != nil {
		return 0, fmt.Errorf("bench ioexit: %w", err)
	}
	d, err := vr.span(eventFirstKVMRun, eventStopped)
	if err != nil {
		return 0, fmt.Errorf("bench ioexit: %w", err)
	}
	return d, nil
}

var cLine = regexp.MustCompile(`ioexit-c: (\d+) exits, ([0-9.]+) ns/exit`)

func runCBaseline(ctx context.Context, o *IOExitOptions) (float64, error) {
	p := measure(ctx, []string{o.CBaseline, strconv.Itoa(o.N)}, "", o.Timeout, 0)
	if p.Err != nil || p.ExitCode != 0 {
		why := fmt.Sprintf("exit status %d", p.ExitCode)
		if p.Err != nil {
			why = p.Err.Error()
		}
		return 0, fmt.Errorf("bench ioexit: C baseline %s: %s; end of its output:\n%s", o.CBaseline, why, lastLines(p.Tail, failureOutputLines, "  | "))
	}
	return parseCBaseline(p.Tail, o.N)
}

// parseCBaseline reads "ioexit-c: N exits, X ns/exit" and checks N.
func parseCBaseline(out string, n int) (float64, error) {
	m := cLine.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("bench ioexit: C baseline printed no \"ioexit-c: N exits, X ns/exit\" line; output:\n%s", lastLines(out, failureOutputLines, "  | "))
	}
	if got, _ := strconv.Atoi(m[1]); got != n {
		return 0, fmt.Errorf("bench ioexit: C baseline did %s exits, asked for %d", m[1], n)
	}
	v, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return 0, fmt.Errorf("bench ioexit: C baseline: %w", err)
	}
	return v, nil
}

// Format prints ns per exit for hull and the C baseline and their ratio.
func (rep *IOExitReport) Format(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("hull bench ioexit: %d one-byte OUTs to an unhandled port per run, %d round(s)\n", rep.N, len(rep.Rounds))
	ew.printf("  guest       %s (hull: first KVM_RUN -> stopped, n=%d minus n=0)\n", rep.Guest, rep.N)
	if rep.CBaseline != "" {
		ew.printf("  C baseline  %s\n", rep.CBaseline)
	}
	ew.printf("\n%-22s %12s %12s %12s\n", "ns per I/O exit", "P50", "min", "max")
	row := func(label string, s Summary[float64]) {
		ew.printf("%-22s %12s %12s %12s\n", label, nsPer(s.P50), nsPer(s.Min), nsPer(s.Max))
	}
	row("hull vCPU loop", rep.Hull)
	if rep.C.N > 0 {
		row("C loop (ioexit.c)", rep.C)
		ew.printf("\nhull/C, P50: %.2f (target <= %.1f: %s)\n", rep.Ratio, TargetIOExitRatio, verdict(rep.Ratio <= TargetIOExitRatio))
	} else {
		ew.printf("\nhull/C: no ratio (no --c-baseline)\n")
	}
	return ew.err
}
