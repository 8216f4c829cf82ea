package oci

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Verdict is a program's outcome under one runtime.
type Verdict string

// The verdicts. Only VerdictPass counts as passed.
const (
	VerdictPass Verdict = "pass"
	VerdictFail Verdict = "fail"
	VerdictSkip Verdict = "skip" // the program skipped itself (all tests "# SKIP", or "1..0 # SKIP")
)

// silentOnSuccess names the programs that, when the runtime does the right
// thing, print nothing at all and exit 0: they hand a bad config to
// util.RuntimeInsideValidate with no TAP writer, expect `create` to refuse
// it, and call util.Fatal (exit 1, after runtimetest's all-ok TAP) only when
// the runtime accepted it. Everywhere else an empty stdout is a failure (a
// runtime that loses the container's stdout must not pass `default`).
var silentOnSuccess = map[string]bool{
	"process_capabilities_fail": true,
	"process_rlimits_fail":      true,
}

// Outcome is how a program ended, as the runner saw it.
type Outcome struct {
	ExitCode int // -1 when it did not exit on its own
	TimedOut bool
	Timeout  time.Duration
	Stdout   []byte
	Stderr   []byte
}

// Judge decides pass, fail or skip for one program from its TAP, exit
// code and stderr, and says why in one line. The programs' exit codes lie
// both ways, so neither alone decides:
//   - some fail with only an error diagnostic (a YAML block) and "1..0",
//     exiting 0 (hooks, prestart, poststart, poststop, the hook *_fail ones);
//   - the *_fail programs run through RuntimeInsideValidate print
//     runtimetest's all-ok TAP and then exit 1 when the runtime wrongly
//     accepted the bad config;
//   - those same programs succeed by printing nothing (silentOnSuccess);
//   - util.Fatal exits 1 after a partial TAP stream with no plan.
//
// The rules, in order: timeout, "Bail out!" and a non-zero exit fail; an
// empty stdout passes only for silentOnSuccess programs; any "not ok"
// without TODO fails; a missing plan, or a plan that disagrees with the
// number of test lines, fails; "1..0" passes when nothing else was printed
// and fails with the YAML error it carries otherwise ("1..0 # SKIP" skips);
// all tests skipped skips; otherwise pass.
func Judge(program string, o Outcome) (Verdict, string, *TAP) {
	t := ParseTAP(o.Stdout)
	passed, failed, skipped, _ := t.Counts()
	switch {
	case o.TimedOut:
		return VerdictFail, fmt.Sprintf("timed out after %s%s", o.Timeout, progress(t)), t
	case t.Bailed:
		return VerdictFail, "bail out: " + t.BailOut, t
	case o.ExitCode != 0:
		why := fmt.Sprintf("exit %d", o.ExitCode)
		if msg := summary(o.Stderr); msg != "" {
			why += ": " + msg
		}
		if failed == 0 && passed > 0 {
			why += " (after all-ok TAP"
			if strings.HasSuffix(program, "_fail") {
				why += ": the runtime accepted the bad config"
			}
			why += ")"
		}
		return VerdictFail, why, t
	case len(strings.TrimSpace(string(o.Stdout))) == 0:
		if silentOnSuccess[program] {
			return VerdictPass, "printed nothing: the runtime refused the bad config, as required", t
		}
		why := "no TAP output"
		if msg := summary(o.Stderr); msg != "" {
			why += "; stderr: " + msg
		}
		return VerdictFail, why, t
	case failed > 0:
		var first TestLine
		for _, l := range t.Tests {
			if l.Failed() {
				first = l
				break
			}
		}
		why := fmt.Sprintf("%d of %d not ok; first: #%d %s", failed, len(t.Tests), first.Num, first.Desc)
		if e := yamlError(first.YAML); e != "" {
			why += ": " + e
		}
		return VerdictFail, why, t
	case t.PlanProblem() != "":
		return VerdictFail, t.PlanProblem(), t
	case len(t.Tests) == 0:
		if why, ok := t.SkipAll(); ok {
			return VerdictSkip, "skipped: " + why, t
		}
		if len(t.YAML) > 0 || len(t.Diagnostics) > 0 {
			why := "1..0 with a diagnostic"
			if e := firstYAMLError(t); e != "" {
				why += ": " + e
			}
			return VerdictFail, why, t
		}
		return VerdictPass, "1..0 and no diagnostic: every check passed", t
	case skipped == len(t.Tests):
		return VerdictSkip, "all tests skipped: " + t.Tests[0].Reason, t
	}
	why := fmt.Sprintf("%d/%d ok", passed, len(t.Tests))
	if skipped > 0 {
		why += fmt.Sprintf(", %d skipped", skipped)
	}
	return VerdictPass, why, t
}

func progress(t *TAP) string {
	if len(t.Tests) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d test lines so far)", len(t.Tests))
}

// yamlError returns the "error" field of a YAML block (tap-go writes JSON),
// else its "actual" field, else "".
func yamlError(block string) string {
	if block == "" {
		return ""
	}
	var m map[string]any
	if json.Unmarshal([]byte(block), &m) != nil {
		return ""
	}
	for _, k := range []string{"error", "actual"} {
		if s, ok := m[k].(string); ok && s != "" {
			return oneLine(s)
		}
	}
	return ""
}

func firstYAMLError(t *TAP) string {
	for _, y := range t.YAML {
		if e := yamlError(y); e != "" {
			return e
		}
	}
	if len(t.Diagnostics) > 0 {
		return oneLine(t.Diagnostics[0])
	}
	return ""
}

// summary joins b's non-empty lines with " | ", shortened: util.Fatal's
// message, or "failed to create the container" and the runtime's stderr.
func summary(b []byte) string {
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return oneLine(strings.Join(lines, " | "))
}

// oneLine joins s's lines and cuts it to a table-friendly length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 200
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
