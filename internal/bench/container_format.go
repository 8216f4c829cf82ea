package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hullvm/hull/runtime"
)

func (r *ContainerRun) progress() string {
	if !r.OK {
		return "FAILED: " + r.Failure
	}
	if r.RunCall > 0 {
		return "run " + ms(r.RunCall) + r.vmProgress()
	}
	word := "calls"
	if r.StateCalls == 1 {
		word = "call"
	}
	return fmt.Sprintf("create %s, start %s, wait %s (%d state %s), delete %s, total %s",
		ms(r.Create), ms(r.Start), ms(r.Wait), r.StateCalls, word, ms(r.Delete), ms(r.Total)) + r.vmProgress()
}

// vmProgress is a vm run's timeline, in short.
func (r *ContainerRun) vmProgress() string {
	var parts []string
	for _, name := range VMTimelinePhases {
		if at, ok := vmPhase(r, name); ok {
			parts = append(parts, name+" "+ms(at))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
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
	setup := func(label, format string, args ...any) {
		ew.printf("  %-12s  "+format+"\n", append([]any{label}, args...)...)
	}
	setup("bundle", "%s", rep.Bundle)
	if rep.BundleNote != "" {
		setup("", "%s", rep.BundleNote)
	}
	if rep.HullArgv != "" {
		setup(RuntimeHull, "%s", rep.HullArgv)
	} else {
		setup(RuntimeHull, "process sandbox not run")
	}
	if rep.VMArgv != "" {
		setup(RuntimeHullVM, "%s", rep.VMArgv)
	}
	if rep.VMBootArgv != "" {
		setup(RuntimeHullVMBoot, "%s", rep.VMBootArgv)
		setup("", "a copy of the bundle: config.json with %s=false, the same rootfs", runtime.AnnotationVMTemplate)
	}
	if rep.VMNote != "" {
		setup(RuntimeHullVM, "%s", rep.VMNote)
	}
	if rep.Runc != "" {
		v := ""
		if rep.RuncVersion != "" {
			v = " (" + rep.RuncVersion + ")"
		}
		setup(RuntimeRunc, "%s --root ROOT%s", rep.Runc, v)
	} else {
		setup(RuntimeRunc, "%s", rep.RuncNote)
	}
	ew.printf("\n")

	tab := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	tw := &errWriter{w: tab}
	s := &rep.Stats
	tw.printf("\tok\tP50\tmin\tmax\n")
	if rep.HullArgv != "" {
		for _, p := range s.Phases {
			durRow(tw, "hull  "+phaseLabels[p.Phase], p.Hull, len(rep.Hull))
		}
	}
	for _, v := range rep.vmRows() {
		if v.argv == "" {
			continue
		}
		for _, p := range s.Phases {
			sum, _ := v.phase(&p)
			durRow(tw, v.name+"  "+phaseLabels[p.Phase], *sum, len(v.runs))
		}
		for _, p := range *v.timeline {
			durRow(tw, v.name+"  . "+p.Phase+" (since create began)", p.VM, len(v.runs))
		}
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
	if rep.HullArgv != "" {
		rep.ratioLine(ew, RuntimeHull, s.Ratio, func(p *ContainerPhase) float64 { return p.Ratio })
	}
	for _, v := range rep.vmRows() {
		if v.argv != "" {
			rep.ratioLine(ew, v.name, *v.ratio, func(p *ContainerPhase) float64 { _, r := v.phase(p); return *r })
		}
	}
	if s.HullStateCalls.N > 0 {
		ew.printf("state calls until stopped, P50 (min-max): hull %s", calls(s.HullStateCalls))
		if s.RuncStateCalls.N > 0 {
			ew.printf(", runc %s", calls(s.RuncStateCalls))
		}
		ew.printf("\n")
	}

	failed := 0
	for _, r := range rep.allRuns() {
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

// ratioLine prints a runtime's ratios to runc: the headline phase's, and
// the other phases' in brackets.
func (rep *ContainerReport) ratioLine(ew *errWriter, name string, head float64, ratio func(*ContainerPhase) float64) {
	switch {
	case head > 0:
		var others []string
		for i := range rep.Stats.Phases {
			p := &rep.Stats.Phases[i]
			if r := ratio(p); p.Phase != headlinePhase(rep.Mode) && r > 0 {
				others = append(others, fmt.Sprintf("%s %.2f", p.Phase, r))
			}
		}
		ew.printf("%s/runc, P50 %s: %.2f", name, headlinePhase(rep.Mode), head)
		if len(others) > 0 {
			ew.printf(" (%s)", strings.Join(others, ", "))
		}
		ew.printf("\n")
	case rep.Runc == "":
		ew.printf("%s/runc: no ratio (%s)\n", name, rep.RuncNote)
	default:
		ew.printf("%s/runc: no ratio (no successful run of one of them)\n", name)
	}
}

func calls(s Summary[float64]) string {
	return fmt.Sprintf("%g (%g-%g)", s.P50, s.Min, s.Max)
}

// Failures counts the runs that failed.
func (rep *ContainerReport) Failures() int {
	n := 0
	for _, r := range rep.allRuns() {
		if !r.OK {
			n++
		}
	}
	return n
}

func (rep *ContainerReport) allRuns() []ContainerRun {
	return slices.Concat(rep.Hull, rep.RuncRuns, rep.VM, rep.VMBoot)
}
