package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func (r *ContainerRun) progress() string {
	if !r.OK {
		return "FAILED: " + r.Failure
	}
	if r.RunCall > 0 {
		return "run " + ms(r.RunCall)
	}
	word := "calls"
	if r.StateCalls == 1 {
		word = "call"
	}
	return fmt.Sprintf("create %s, start %s, wait %s (%d state %s), delete %s, total %s",
		ms(r.Create), ms(r.Start), ms(r.Wait), r.StateCalls, word, ms(r.Delete), ms(r.Total))
}

// phaseLabels name the phases in the table.
var phaseLabels = map[string]string{
	PhaseRun:    "run (create+start+wait+delete)",
	PhaseCreate: "create",
	PhaseStart:  "start",
	PhaseWait:   "wait (start -> state says stopped)",
	PhaseDelete: "delete",
	PhaseTotal:  "total (create -> delete)",
	PhaseState:  "one state call",
}

// Format prints the report: the setup, a P50/min/max table per runtime and
// phase over the successful runs, the hull/runc ratios of the P50s, and
// each failed run with the end of its output.
func (rep *ContainerReport) Format(w io.Writer) error {
	ew := &errWriter{w: w}
	warm := ""
	if rep.Warmup > 0 {
		warm = fmt.Sprintf(" (+%d warm-up)", rep.Warmup)
	}
	noun := "containers"
	if rep.Runs == 1 {
		noun = "container"
	}
	ew.printf("hull bench container: %d %s of each runtime%s, mode %s\n", rep.Runs, noun, warm, rep.Mode)
	ew.printf("  bundle   %s\n", rep.Bundle)
	if rep.BundleNote != "" {
		ew.printf("           %s\n", rep.BundleNote)
	}
	ew.printf("  hull     %s\n", rep.HullArgv)
	if rep.Runc != "" {
		v := ""
		if rep.RuncVersion != "" {
			v = " (" + rep.RuncVersion + ")"
		}
		ew.printf("  runc     %s --root ROOT%s\n", rep.Runc, v)
	} else {
		ew.printf("  runc     %s\n", rep.RuncNote)
	}
	ew.printf("\n")

	tab := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	tw := &errWriter{w: tab}
	s := &rep.Stats
	tw.printf("\tok\tP50\tmin\tmax\n")
	for _, p := range s.Phases {
		durRow(tw, "hull  "+phaseLabels[p.Phase], p.Hull, len(rep.Hull))
	}
	if rep.Runc != "" {
		for _, p := range s.Phases {
			durRow(tw, "runc  "+phaseLabels[p.Phase], p.Runc, len(rep.RuncRuns))
		}
	}
	if tw.err == nil {
		tw.err = tab.Flush()
	}
	if tw.err != nil {
		return tw.err
	}

	ew.printf("\n")
	head := headlinePhase(rep.Mode)
	switch {
	case s.Ratio > 0:
		var others []string
		for _, p := range s.Phases {
			if p.Phase != head && p.Ratio > 0 {
				others = append(others, fmt.Sprintf("%s %.2f", p.Phase, p.Ratio))
			}
		}
		ew.printf("hull/runc, P50 %s: %.2f", head, s.Ratio)
		if len(others) > 0 {
			ew.printf(" (%s)", strings.Join(others, ", "))
		}
		ew.printf("\n")
	case rep.Runc == "":
		ew.printf("hull/runc: no ratio (%s)\n", rep.RuncNote)
	default:
		ew.printf("hull/runc: no ratio (no successful run of one of them)\n")
	}
	if s.HullStateCalls.N > 0 {
		ew.printf("state calls until stopped, P50 (min-max): hull %s", calls(s.HullStateCalls))
		if s.RuncStateCalls.N > 0 {
			ew.printf(", runc %s", calls(s.RuncStateCalls))
		}
		ew.printf("\n")
	}

	failed := 0
	for _, r := range append(append([]ContainerRun(nil), rep.Hull...), rep.RuncRuns...) {
		if r.OK {
			continue
		}
		if failed == 0 {
			ew.printf("\nfailed runs:\n")
		}
		failed++
		ew.printf("  %s run %d (%s): %s; end of its output:\n%s", r.Runtime, r.Run, r.ID, r.Failure, lastLines(r.Tail, failureOutputLines, "    | "))
	}
	return ew.err
}

func calls(s Summary[float64]) string {
	return fmt.Sprintf("%g (%g-%g)", s.P50, s.Min, s.Max)
}

// Failures counts the runs that failed.
func (rep *ContainerReport) Failures() int {
	n := 0
	for _, r := range append(append([]ContainerRun(nil), rep.Hull...), rep.RuncRuns...) {
		if !r.OK {
			n++
		}
	}
	return n
}
