package oci

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func res(rt, program string, v Verdict, why string) Result {
	return Result{Runtime: rt, Program: program, Verdict: v, Reason: why}
}

func TestCompare(t *testing.T) {
	base := []Result{
		res("runc", "create", VerdictPass, "4/4 ok"),
		res("runc", "kill", VerdictPass, "5/5 ok"),
		res("runc", "linux_ns_path", VerdictPass, "5/5 ok"),
		res("runc", "linux_ns_nopath", VerdictPass, "7/7 ok"),
		res("runc", "state", VerdictPass, "3/3 ok"),
		res("runc", "hooks", VerdictFail, "stale"),
	}
	cand := []Result{
		res("hull", "create", VerdictPass, "4/4 ok"),
		res("hull", "kill", VerdictFail, "timed out"),
		res("hull", "linux_ns_path", VerdictFail, "host namespaces"),
		res("hull", "linux_ns_nopath", VerdictPass, "7/7 ok"),
		res("hull", "hooks", VerdictFail, "stale"),
		// state: not run
	}
	excluded := map[string]string{"linux_ns_path": "VM", "linux_ns_nopath": "VM", "hooks": "stale anyway"}
	regs, stale := Compare(base, cand, excluded)
	var names []string
	for _, g := range regs {
		names = append(names, g.Program)
	}
	if want := []string{"kill", "state"}; !reflect.DeepEqual(names, want) {
		t.Errorf("regressions = %v, want %v", names, want)
	}
	if regs[1].Got != nil || !strings.Contains(regs[1].String(), "not run under the candidate") {
		t.Errorf("missing program: %+v, %q", regs[1], regs[1].String())
	}
	if got := regs[0].String(); got != "kill: runc passes (5/5 ok); hull: fail: timed out" {
		t.Errorf("String() = %q", got)
	}
	if want := []string{"linux_ns_nopath"}; !reflect.DeepEqual(stale, want) {
		t.Errorf("stale exclusions = %v, want %v", stale, want)
	}
}

func TestWriteTable(t *testing.T) {
	r := &Report{
		Runtimes: []RuntimeInfo{{Runtime: Runtime{Name: "runc"}}, {Runtime: Runtime{Name: "hull"}}},
		Results: map[string][]Result{
			"runc": {res("runc", "create", VerdictPass, "4/4 ok"), res("runc", "hooks", VerdictFail, "1..0 with a diagnostic: a|b")},
		},
		Skipped: map[string]string{"hull": "no OCI verbs yet"},
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `| program | runc | hull | runc: reason |
|---|---|---|---|
| create | pass | — | 4/4 ok |
| hooks | **FAIL** | — | 1..0 with a diagnostic: a\|b |
| **passed** | **1/2** | — (no OCI verbs yet) | |
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Results["runc"]) != 2 || back.Results["runc"][1].Reason != "1..0 with a diagnostic: a|b" {
		t.Errorf("JSON round trip: %v, %+v", err, back.Results)
	}
}
