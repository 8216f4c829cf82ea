package oci

import (
	"strings"
	"testing"
	"time"
)

// The outputs below are trimmed from real runs against runc 1.1.5.
const (
	hooksOut = `TAP version 13
  ---
  {
    "error": "Hooks MUST be called in the listed order\nRefer to: https://github.com/opencontainers/runtime-spec/blob/v1.3.0/config.md#posix-platform-hooks"
  }
  ...
1..0
`
	allOK = "TAP version 13\nok 1 - has expected hostname\nok 2 # SKIP process.oomScoreAdj not set\n1..2\n"
)

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name, program string
		o             Outcome
		want          Verdict
		why           string // a substring of the reason
	}{
		{"all ok", "default", Outcome{Stdout: []byte(allOK)}, VerdictPass, "1/2 ok, 1 skipped"},
		{"not ok", "linux_cgroups_pids", Outcome{Stdout: []byte("TAP version 13\nok 1 - find\nnot ok 2 - pids limit is set correctly\n  ---\n  {\"error\": \"no such file\"}\n  ...\n1..2\n")},
			VerdictFail, "1 of 2 not ok; first: #2 pids limit is set correctly: no such file"},
		{"todo failure is not a failure", "default", Outcome{Stdout: []byte("TAP version 13\nok 1 - a\nnot ok 2 # TODO later\n1..2\n")}, VerdictPass, "1/2 ok"},
		// hooks, prestart, poststart, poststop: an error diagnostic and 1..0, exit 0
		{"1..0 with a diagnostic", "hooks", Outcome{Stdout: []byte(hooksOut)}, VerdictFail, "1..0 with a diagnostic: Hooks MUST be called in the listed order"},
		{"1..0 clean", "poststop", Outcome{Stdout: []byte("TAP version 13\n1..0\n")}, VerdictPass, "every check passed"},
		{"1..0 # SKIP", "linux_cgroups_hugetlb", Outcome{Stdout: []byte("1..0 # SKIP no hugetlb\n")}, VerdictSkip, "no hugetlb"},
		{"all skipped", "x", Outcome{Stdout: []byte("TAP version 13\nok 1 # SKIP linux-specific\n1..1\n")}, VerdictSkip, "linux-specific"},
		// process_capabilities_fail under a runtime that accepted CAP_TEST:
		// runtimetest's all-ok TAP, then util.Fatal
		{"*_fail accepted the bad config", "process_capabilities_fail",
			Outcome{ExitCode: 1, Stdout: []byte(allOK), Stderr: []byte("Any value which cannot be mapped to a relevant kernel interface MUST cause an error\n")},
			VerdictFail, "exit 1: Any value which cannot be mapped to a relevant kernel interface MUST cause an error (after all-ok TAP: the runtime accepted the bad config)"},
		{"*_fail refused it: silence passes", "process_rlimits_fail",
			Outcome{Stderr: []byte("failed to create the container\nwrong rlimit value: RLIMIT_TEST\n")}, VerdictPass, "the runtime refused the bad config"},
		{"silence elsewhere fails", "default", Outcome{}, VerdictFail, "no TAP output"},
		{"util.Fatal after create failed", "linux_mount_label",
			Outcome{ExitCode: 1, Stderr: []byte("failed to create the container\nrunc create failed: invalid argument\nexit status 1\n")},
			VerdictFail, "exit 1: failed to create the container | runc create failed: invalid argument | exit status 1"},
		{"cut short", "default", Outcome{Stdout: []byte("TAP version 13\nok 1 - a\n")}, VerdictFail, "no plan line"},
		{"plan mismatch", "default", Outcome{Stdout: []byte("TAP version 13\nok 1 - a\n1..3\n")}, VerdictFail, "planned 3 tests, ran 1"},
		{"two documents", "linux_cgroups_cpus", Outcome{Stdout: []byte("TAP version 13\nok 1 - a\n1..1\nTAP version 13\n1..0\n")}, VerdictPass, "1/1 ok"},
		{"bail out", "default", Outcome{Stdout: []byte("TAP version 13\nBail out! gone\n")}, VerdictFail, "bail out: gone"},
		{"timeout beats everything", "kill", Outcome{ExitCode: -1, TimedOut: true, Timeout: 3 * time.Minute, Stdout: []byte(allOK)},
			VerdictFail, "timed out after 3m0s (2 test lines so far)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, why, _ := Judge(tc.program, tc.o)
			if v != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("Judge(%s) = %s, %q; want %s, containing %q", tc.program, v, why, tc.want, tc.why)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\n  b\tc"); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine(strings.Repeat("x", 300)); len(got) != 200+len("…") {
		t.Errorf("oneLine did not cut: %d bytes", len(got))
	}
}
