package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// errWriter remembers the first write error so Format can print freely.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

func okCol(n, of int) string { return fmt.Sprintf("%d/%d", n, of) }

func durRow(tw *errWriter, label string, s Summary[time.Duration], of int) {
	if s.N == 0 {
		tw.printf("%s\t%s\t-\t-\t-\n", label, okCol(0, of))
		return
	}
	tw.printf("%s\t%s\t%s\t%s\t%s\n", label, okCol(s.N, of), ms(s.P50), ms(s.Min), ms(s.Max))
}

func bytesRow(tw *errWriter, label string, s Summary[uint64], of int) {
	tw.printf("%s\t%s\t%s\t%s\t%s\n", label, okCol(s.N, of), mib(s.P50), mib(s.Min), mib(s.Max))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// Format prints the report: the setup, a P50/min/max table of every figure
// over the successful runs, the ratios against their targets, and each
// failed run with the end of its output.
func (rep *BootReport) Format(w io.Writer) error {
	ew := &errWriter{w: w}
	warm := ""
	if rep.Warmup > 0 {
		warm = fmt.Sprintf(" (+%d warm-up)", rep.Warmup)
	}
	ew.printf("hull bench boot: %d runs of each VMM%s, %d vCPU, %d MiB\n", rep.Runs, warm, rep.CPUs, rep.MemMiB)
	ew.printf("  kernel   %s\n  initrd   %s\n  cmdline  %s\n  marker   %q\n", rep.Kernel, rep.Initrd, rep.Cmdline, rep.Marker)
	if rep.QEMU != "" {
		ew.printf("  qemu     %s %s\n", rep.QEMU, strings.Join(qemuArgs, " "))
	} else {
		ew.printf("  qemu     %s\n", rep.QEMUNote)
	}
	ew.printf("\n")

	tab := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	tw := &errWriter{w: tab}
	s := &rep.Stats
	nh, nq := len(rep.Hull), len(rep.QEMURuns)
	tw.printf("\tok\tP50\tmin\tmax\n")
	durRow(tw, "hull  spawn -> marker", s.HullToMarker, nh)
	durRow(tw, "hull  spawn -> exit", s.HullToExit, nh)
	durRow(tw, "hull  process start -> first KVM_RUN", s.HullFirstKVMRun, nh)
	if s.HullVMMRSS.N > 0 {
		bytesRow(tw, "hull  VMM RSS", s.HullVMMRSS, nh)
		bytesRow(tw, "hull  guest resident", s.HullGuestRes, nh)
		bytesRow(tw, "hull  VMM RSS - guest resident", s.HullOverhead, nh)
	} else {
		tw.printf("hull  VMM RSS - guest resident\t%s\tnot reported (no \"memory\" in hull's --timeline-json)\n", okCol(0, nh))
	}
	if rep.QEMU != "" {
		durRow(tw, "qemu  spawn -> marker", s.QEMUToMarker, nq)
		durRow(tw, "qemu  spawn -> exit", s.QEMUToExit, nq)
	}
	if tw.err == nil {
		tw.err = tab.Flush()
	}
	if tw.err != nil {
		return tw.err
	}

	ew.printf("\n")
	switch {
	case s.Ratio > 0:
		ew.printf("hull/QEMU, P50 spawn -> marker: %.2f (target <= %.1f: %s)\n", s.Ratio, TargetBootRatio, verdict(s.Ratio <= TargetBootRatio))
	case rep.QEMU == "":
		ew.printf("hull/QEMU: no ratio (%s)\n", rep.QEMUNote)
	default:
		ew.printf("hull/QEMU: no ratio (no successful run of one of them)\n")
	}
	if s.HullOverhead.N > 0 {
		ew.printf("VMM RSS - guest resident, P50: %s (target <= %s: %s)\n", mib(s.HullOverhead.P50),
			mib(TargetVMMOverhead), verdict(s.HullOverhead.P50 <= TargetVMMOverhead))
	}

	var notes []string
	for _, r := range rep.Hull {
		if r.OK && r.Note != "" {
			notes = append(notes, fmt.Sprintf("hull run %d: %s", r.Run, r.Note))
		}
	}
	if len(notes) > 0 {
		ew.printf("\nnotes:\n  %s\n", strings.Join(notes, "\n  "))
	}
	failed := 0
	for _, r := range append(append([]BootRun(nil), rep.Hull...), rep.QEMURuns...) {
		if r.OK {
			continue
		}
		if failed == 0 {
			ew.printf("\nfailed runs:\n")
		}
		failed++
		ew.printf("  %s run %d: %s; end of its output:\n%s", r.VMM, r.Run, r.Failure, lastLines(r.Tail, failureOutputLines, "    | "))
	}
	return ew.err
}

// Failures counts the runs that failed.
func (rep *BootReport) Failures() int {
	n := 0
	for _, r := range append(append([]BootRun(nil), rep.Hull...), rep.QEMURuns...) {
		if !r.OK {
			n++
		}
	}
	return n
}
