package oci

import (
	"reflect"
	"testing"
)

func TestParseTAP(t *testing.T) {
	out := `TAP version 13
ok 1 - create MUST create a new container
  ---
  {
    "error": "exit status 1",
    "stdout": "not ok 9 - inside a YAML block: not a test line"
  }
  ...
not ok 2 - pids limit is set correctly
# expect: 1000, actual: 0
ok 3 # SKIP linux.devices is not set
not ok 4 # TODO we need the major/minor from the controlling TTY
okay this is not a test line
<nil>
1..4
`
	tp := ParseTAP([]byte(out))
	if len(tp.Docs) != 1 || !tp.Docs[0].HasPlan || tp.Docs[0].Plan != 4 || tp.Docs[0].Version != 13 {
		t.Fatalf("docs = %+v, want one TAP 13 document planning 4", tp.Docs)
	}
	want := []TestLine{
		{Num: 1, OK: true, Desc: "create MUST create a new container",
			YAML: "{\n  \"error\": \"exit status 1\",\n  \"stdout\": \"not ok 9 - inside a YAML block: not a test line\"\n}"},
		{Num: 2, Desc: "pids limit is set correctly"},
		{Num: 3, OK: true, Directive: "SKIP", Reason: "linux.devices is not set"},
		{Num: 4, Directive: "TODO", Reason: "we need the major/minor from the controlling TTY"},
	}
	if !reflect.DeepEqual(tp.Tests, want) {
		t.Errorf("tests:\n got %+v\nwant %+v", tp.Tests, want)
	}
	if p, f, s, todo := tp.Counts(); p != 1 || f != 1 || s != 1 || todo != 1 {
		t.Errorf("counts = %d passed %d failed %d skipped %d todo, want 1 each", p, f, s, todo)
	}
	if want := []string{"expect: 1000, actual: 0"}; !reflect.DeepEqual(tp.Diagnostics, want) {
		t.Errorf("diagnostics = %q, want %q", tp.Diagnostics, want)
	}
	if want := []string{"okay this is not a test line", "<nil>"}; !reflect.DeepEqual(tp.Other, want) {
		t.Errorf("other = %q, want %q", tp.Other, want)
	}
	if tp.PlanProblem() != "" || tp.Plan() != 4 {
		t.Errorf("PlanProblem() = %q, Plan() = %d; want \"\", 4", tp.PlanProblem(), tp.Plan())
	}
}

// linux_cgroups_cpus prints two documents: its second tap.T finds no
// cpu,cpuacct cgroup and plans nothing.
func TestParseTAPTwoDocuments(t *testing.T) {
	tp := ParseTAP([]byte("TAP version 13\nok 1 - a\nok 2 - b\n1..2\nTAP version 13\n1..0\n"))
	if len(tp.Docs) != 2 || tp.Docs[0].Tests != 2 || tp.Docs[1].Tests != 0 || tp.Plan() != 2 || tp.PlanProblem() != "" {
		t.Errorf("docs = %+v, Plan() = %d, PlanProblem() = %q", tp.Docs, tp.Plan(), tp.PlanProblem())
	}
	// a second plan with no header of its own starts a document too
	tp = ParseTAP([]byte("1..1\nok 1\n1..2\nok 1\n"))
	if got := tp.PlanProblem(); got != "planned 2 tests, ran 1 (TAP document 2 of 2)" {
		t.Errorf("PlanProblem() = %q", got)
	}
}

func TestParseTAPEdges(t *testing.T) {
	tp := ParseTAP([]byte("TAP version 13\nok 1 - a\nBail out! no runtime\n"))
	if !tp.Bailed || tp.BailOut != "no runtime" {
		t.Errorf("bail out = %v %q", tp.Bailed, tp.BailOut)
	}
	if got := tp.PlanProblem(); got != "no plan line: output cut short after 1 tests" {
		t.Errorf("PlanProblem() = %q", got)
	}
	tp = ParseTAP([]byte("1..0 # SKIP no cgroup v1\n"))
	if why, ok := tp.SkipAll(); !ok || why != "no cgroup v1" {
		t.Errorf("SkipAll() = %q %v", why, ok)
	}
	// cut short inside a YAML block: the block is kept, nothing panics
	tp = ParseTAP([]byte("not ok 1 - x\n  ---\n  {\n"))
	if len(tp.YAML) != 1 || tp.Tests[0].YAML != "" {
		t.Errorf("YAML = %q, test YAML = %q", tp.YAML, tp.Tests[0].YAML)
	}
	// description with an escaped '#', directive in lower case
	tp = ParseTAP([]byte("ok 7 - uses \\# in text # skip not here\n"))
	if l := tp.Tests[0]; l.Num != 7 || l.Desc != `uses \# in text` || l.Directive != "SKIP" || l.Reason != "not here" {
		t.Errorf("line = %+v", l)
	}
	// no number, no description
	tp = ParseTAP([]byte("not ok\nok\n"))
	if len(tp.Tests) != 2 || tp.Tests[0].OK || !tp.Tests[1].OK {
		t.Errorf("tests = %+v", tp.Tests)
	}
}
