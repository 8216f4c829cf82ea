package oci

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// TAP is what ParseTAP understood of one program's standard output (TAP
// version 13 as runtime-tools' tap-go writes it: a "TAP version 13" header,
// test lines, YAML blocks indented by two spaces, the plan at the end).
//
// One program may print several TAP documents, each with its own header and
// plan (linux_cgroups_cpus runs two tap.T in turn); Docs has one entry per
// document and Tests holds the test lines of all of them.
type TAP struct {
	Docs    []Doc
	Tests   []TestLine
	Bailed  bool   // a "Bail out!" line was seen
	BailOut string // its reason
	// YAML holds every YAML block in order, without the "---"/"..." fences
	// and with the indentation removed; Tests[i].YAML points at the ones
	// that follow a test line. Blocks before the first test line or after
	// the last one's block are diagnostics of the program itself.
	YAML        []string
	Diagnostics []string // "# ..." lines, without the "# "
	Other       []string // lines that are none of the above (a stray fmt.Println)
}

// Doc is one TAP document: from a "TAP version" line (or the start of the
// stream) to the next.
type Doc struct {
	Version int    // from "TAP version N"; 0 when absent
	HasPlan bool   // a plan line "1..N" was seen
	Plan    int    // N of the plan line
	PlanDir string // the plan's directive, e.g. "SKIP no cgroup v1" ("1..0 # SKIP ...")
	Tests   int    // test lines in this document
}

// PlanProblem returns "" when every document has exactly one plan that
// matches its number of test lines, else what is wrong.
func (t *TAP) PlanProblem() string {
	for i, d := range t.Docs {
		where := ""
		if len(t.Docs) > 1 {
			where = fmt.Sprintf(" (TAP document %d of %d)", i+1, len(t.Docs))
		}
		switch {
		case !d.HasPlan:
			return fmt.Sprintf("no plan line: output cut short after %d tests%s", d.Tests, where)
		case d.Plan != d.Tests:
			return fmt.Sprintf("planned %d tests, ran %d%s", d.Plan, d.Tests, where)
		}
	}
	return ""
}

// Plan returns the sum of the documents' plans, or -1 when one has none.
func (t *TAP) Plan() int {
	n := 0
	for _, d := range t.Docs {
		if !d.HasPlan {
			return -1
		}
		n += d.Plan
	}
	return n
}

// SkipAll returns the reason of a "1..0 # SKIP reason" plan, if a
// document has one.
func (t *TAP) SkipAll() (string, bool) {
	for _, d := range t.Docs {
		if d.HasPlan && d.Plan == 0 && strings.HasPrefix(strings.ToUpper(d.PlanDir), "SKIP") {
			return strings.TrimSpace(d.PlanDir[len("SKIP"):]), true
		}
	}
	return "", false
}

// TestLine is one "ok"/"not ok" line.
type TestLine struct {
	Num       int    // the test number; 0 when the line has none
	OK        bool   // "ok" rather than "not ok"
	Desc      string // description, without the leading "- "
	Directive string // "SKIP" or "TODO" (upper case), or ""
	Reason    string // the directive's text
	YAML      string // the YAML block right after the line, if any
}

// Failed reports whether the line counts as a failure: "not ok" without a
// TODO directive (a TODO failure is expected, by TAP's rules).
func (l TestLine) Failed() bool { return !l.OK && l.Directive != "TODO" }

// Skipped reports whether the line is an "ok ... # SKIP" line.
func (l TestLine) Skipped() bool { return l.Directive == "SKIP" }

// Counts returns how many test lines passed (ok, not skipped), failed
// (see Failed), were skipped, and were TODO failures.
func (t *TAP) Counts() (passed, failed, skipped, todo int) {
	for _, l := range t.Tests {
		switch {
		case l.Failed():
			failed++
		case l.Skipped():
			skipped++
		case !l.OK: // not ok # TODO
			todo++
		default:
			passed++
		}
	}
	return passed, failed, skipped, todo
}

// ParseTAP parses a TAP stream. It never fails: what it cannot place goes
// to Other, and the verdict (Judge) decides what a missing plan means.
func ParseTAP(out []byte) *TAP {
	t := &TAP{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var (
		inYAML   bool
		indent   string
		block    []string
		lastTest = -1 // index in t.Tests of the line a YAML block would belong to
	)
	doc := func() *Doc {
		if len(t.Docs) == 0 {
			t.Docs = append(t.Docs, Doc{})
		}
		return &t.Docs[len(t.Docs)-1]
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if inYAML {
			if strings.TrimSpace(line) == "..." && strings.HasPrefix(line, indent) {
				y := strings.Join(block, "\n")
				t.YAML = append(t.YAML, y)
				if lastTest >= 0 && t.Tests[lastTest].YAML == "" {
					t.Tests[lastTest].YAML = y
				}
				lastTest = -1
				inYAML, block = false, nil
				continue
			}
			block = append(block, strings.TrimPrefix(line, indent))
			continue
		}
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "---" && trimmed != line {
			inYAML, indent = true, line[:len(line)-len(trimmed)]
			continue
		}
		switch {
		case strings.HasPrefix(line, "TAP version "):
			v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "TAP version ")))
			t.Docs = append(t.Docs, Doc{Version: v})
			lastTest = -1
		case strings.HasPrefix(line, "ok") || strings.HasPrefix(line, "not ok"):
			if l, ok := parseTestLine(line); ok {
				t.Tests = append(t.Tests, l)
				doc().Tests++
				lastTest = len(t.Tests) - 1
				continue
			}
			t.Other = append(t.Other, line)
		case strings.HasPrefix(line, "1.."):
			if n, dir, ok := parsePlan(line); ok {
				d := doc()
				if d.HasPlan { // a second plan: a document without a header
					t.Docs = append(t.Docs, Doc{})
					d = doc()
				}
				d.HasPlan, d.Plan, d.PlanDir = true, n, dir
				lastTest = -1
				continue
			}
			t.Other = append(t.Other, line)
		case strings.HasPrefix(line, "Bail out!"):
			t.Bailed = true
			t.BailOut = strings.TrimSpace(strings.TrimPrefix(line, "Bail out!"))
		case strings.HasPrefix(line, "#"):
			t.Diagnostics = append(t.Diagnostics, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case strings.TrimSpace(line) == "":
		default:
			t.Other = append(t.Other, line)
		}
	}
	if inYAML { // cut short inside a block: keep what there was
		t.YAML = append(t.YAML, strings.Join(block, "\n"))
	}
	return t
}

// parseTestLine parses "ok 3 - desc # SKIP why" and "not ok 4 # TODO desc"
// (tap-go puts the directive before the description).
func parseTestLine(line string) (TestLine, bool) {
	var l TestLine
	rest := line
	switch {
	case strings.HasPrefix(rest, "not ok"):
		rest = rest[len("not ok"):]
	case strings.HasPrefix(rest, "ok"):
		l.OK = true
		rest = rest[len("ok"):]
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return TestLine{}, false // "okay", "oklahoma"
	}
	rest = strings.TrimLeft(rest, " \t")
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i != 0 {
		if i < 0 {
			i = len(rest)
		}
		l.Num, _ = strconv.Atoi(rest[:i])
		rest = strings.TrimLeft(rest[i:], " \t")
	}
	desc, dir, reason := splitDirective(rest)
	l.Desc = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(desc), "- "))
	l.Directive, l.Reason = dir, reason
	return l, true
}

// splitDirective splits "desc # SKIP reason" at the first unescaped '#'
// that starts a SKIP or TODO directive. With no directive, desc is s.
func splitDirective(s string) (desc, dir, reason string) {
	for i := 0; i < len(s); i++ {
		if s[i] != '#' || (i > 0 && s[i-1] == '\\') {
			continue
		}
		after := strings.TrimLeft(s[i+1:], " \t")
		word := after
		if j := strings.IndexAny(after, " \t"); j >= 0 {
			word = after[:j]
		}
		switch w := strings.ToUpper(word); {
		case strings.HasPrefix(w, "SKIP"):
			return s[:i], "SKIP", strings.TrimSpace(after[len(word):])
		case strings.HasPrefix(w, "TODO"):
			return s[:i], "TODO", strings.TrimSpace(after[len(word):])
		}
	}
	return s, "", ""
}

// parsePlan parses "1..N" with an optional "# SKIP reason".
func parsePlan(line string) (n int, dir string, ok bool) {
	rest := strings.TrimPrefix(line, "1..")
	i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(rest)
	}
	if i == 0 {
		return 0, "", false
	}
	n, err := strconv.Atoi(rest[:i])
	if err != nil {
		return 0, "", false
	}
	tail := strings.TrimSpace(rest[i:])
	if tail != "" {
		if !strings.HasPrefix(tail, "#") {
			return 0, "", false
		}
		dir = strings.TrimSpace(strings.TrimPrefix(tail, "#"))
	}
	return n, dir, true
}
