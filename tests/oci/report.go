package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Report is one run of the suite against one or more runtimes: what
// WriteJSON writes and WriteTable prints.
type Report struct {
	Date     string              `json:"date"` // RFC 3339, UTC
	Host     Host                `json:"host"`
	Suite    *Suite              `json:"suite"`
	Runtimes []RuntimeInfo       `json:"runtimes"` // in column order; the first is the baseline
	Results  map[string][]Result `json:"results"`  // by runtime name
	Skipped  map[string]string   `json:"skipped,omitempty"`
}

// RuntimeInfo describes a runtime column.
type RuntimeInfo struct {
	Runtime
	Version string `json:"version"`
}

// Host is what the results depend on besides the runtime.
type Host struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	Cgroups  string `json:"cgroups"` // "v1", "v1 (hybrid, v2 at /sys/fs/cgroup/unified)", "v2"
	CPUs     int    `json:"cpus"`
}

// NewReport starts a report for the given runtimes.
func NewReport(ctx context.Context, s *Suite, rts []Runtime) *Report {
	r := &Report{Date: time.Now().UTC().Format(time.RFC3339), Host: ThisHost(), Suite: s, Results: map[string][]Result{}}
	for _, rt := range rts {
		r.Runtimes = append(r.Runtimes, RuntimeInfo{Runtime: rt, Version: rt.Version(ctx)})
	}
	return r
}

// ThisHost describes this machine.
func ThisHost() Host {
	h := Host{CPUs: runtime.NumCPU(), Cgroups: cgroupMode()}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return h
}

func cgroupMode() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil {
		return "unknown"
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v1 (hybrid, v2 at /sys/fs/cgroup/unified)"
	}
	return "v1"
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// programs returns every program any runtime ran, sorted.
func (r *Report) programs() []string {
	seen := map[string]bool{}
	var ps []string
	for _, rs := range r.Results {
		for _, res := range rs {
			if !seen[res.Program] {
				seen[res.Program] = true
				ps = append(ps, res.Program)
			}
		}
	}
	sort.Strings(ps)
	return ps
}

func byProgram(rs []Result) map[string]Result {
	m := make(map[string]Result, len(rs))
	for _, r := range rs {
		m[r.Program] = r
	}
	return m
}

// WriteTable prints a Markdown table, program | runtime... | the first
// runtime's reason, then a totals row. A runtime that did not run has
// its column marked "—" and its reason in Skipped.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	cols := make([]map[string]Result, len(r.Runtimes))
	b.WriteString("| program |")
	for i, rt := range r.Runtimes {
		cols[i] = byProgram(r.Results[rt.Name])
		fmt.Fprintf(&b, " %s |", rt.Name)
	}
	base := "reason"
	if len(r.Runtimes) > 0 {
		base = r.Runtimes[0].Name + ": reason"
	}
	fmt.Fprintf(&b, " %s |\n|---|", base)
	for range r.Runtimes {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	programs := r.programs()
	pass := make([]int, len(r.Runtimes))
	for _, p := range programs {
		fmt.Fprintf(&b, "| %s |", p)
		for i := range r.Runtimes {
			res, ok := cols[i][p]
			cell := "—"
			if ok {
				cell = cellText(res)
				if res.Pass() {
					pass[i]++
				}
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		why := ""
		if len(cols) > 0 {
			why = strings.ReplaceAll(cols[0][p].Reason, "|", `\|`)
		}
		fmt.Fprintf(&b, " %s |\n", why)
	}
	b.WriteString("| **passed** |")
	for i, rt := range r.Runtimes {
		if reason, skipped := r.Skipped[rt.Name]; skipped {
			fmt.Fprintf(&b, " — (%s) |", strings.ReplaceAll(reason, "|", `\|`))
			continue
		}
		fmt.Fprintf(&b, " **%d/%d** |", pass[i], len(programs))
	}
	b.WriteString(" |\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func cellText(r Result) string {
	switch r.Verdict {
	case VerdictPass:
		return "pass"
	case VerdictSkip:
		return "skip"
	}
	if r.TimedOut {
		return "**TIMEOUT**"
	}
	return "**FAIL**"
}

// Regression is a program the baseline passes and the candidate does not.
type Regression struct {
	Program string
	Base    Result
	Got     *Result // nil: the candidate did not run it
}

func (g Regression) String() string {
	if g.Got == nil {
		return fmt.Sprintf("%s: %s passes (%s); not run under the candidate", g.Program, g.Base.Runtime, g.Base.Reason)
	}
	return fmt.Sprintf("%s: %s passes (%s); %s: %s: %s", g.Program, g.Base.Runtime, g.Base.Reason, g.Got.Runtime, g.Got.Verdict, g.Got.Reason)
}

// Compare holds the candidate to the baseline, program by program: every
// program base passes, cand must pass too, except those named in excluded
// (program → why the candidate cannot). It returns the regressions, and
// the excluded programs cand passes anyway (entries to drop from the list).
func Compare(base, cand []Result, excluded map[string]string) (regressions []Regression, stale []string) {
	got := byProgram(cand)
	for _, b := range base {
		if !b.Pass() {
			continue
		}
		c, ok := got[b.Program]
		if _, ex := excluded[b.Program]; ex {
			if ok && c.Pass() {
				stale = append(stale, b.Program)
			}
			continue
		}
		switch {
		case !ok:
			regressions = append(regressions, Regression{Program: b.Program, Base: b})
		case !c.Pass():
			regressions = append(regressions, Regression{Program: b.Program, Base: b, Got: &c})
		}
	}
	return regressions, stale
}
