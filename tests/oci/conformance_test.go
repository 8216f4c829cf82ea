package oci

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
)

// hullMustMatchRunc turns the hull-vs-runc comparison from a log into
// failures: every program runc passes, hull (--sandbox=process) must pass
// too, except ProcessSandboxExclusions.
const hullMustMatchRunc = true

// runcMustPass are programs runc 1.1.5 passed on every host we ran it on
// (docs/CONFORMANCE.md) and that depend on no optional host feature. If
// runc fails one, the harness (or the host) is broken, and a comparison
// with it would mean nothing.
var runcMustPass = []string{
	"config_updates_without_affect", "create", "default",
	"hostname", "kill", "kill_no_effect", "killsig", "linux_devices", "linux_masked_paths",
	"linux_ns_itype", "linux_ns_path", "linux_ns_path_type", "linux_readonly_paths",
	"linux_sysctl", "mounts", "poststop", "prestart_fail", "process", "process_oom_score_adj",
	"process_rlimits_fail", "process_user", "root_readonly_true", "state",
}

// TestConformance runs the whole validation suite against Debian's runc
// and, once `bin/hull create --help` works, against hull's process sandbox,
// and compares them. Results go to bin/oci-test/ at the repository root.
func TestConformance(t *testing.T) {
	testtier.RequireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		defer cancel()
	}
	log := logWriter(t)
	if _, err := exec.LookPath("runc"); err != nil {
		if ierr := AptInstall(ctx, log, "runc"); ierr != nil {
			t.Logf("installing runc: %v", ierr)
		}
	}
	testtier.RequireTool(t, "runc")
	runc, err := ParseRuntime("runc")
	if err != nil {
		t.Fatal(err)
	}
	suite, err := Build(ctx, log)
	if err != nil {
		// No module proxy and no module cache: a missing tool, not a bug.
		if os.Getenv(testtier.EnvRequireTools) == "1" {
			t.Fatalf("building the validation suite: %v (%s=1: this test must not be skipped)", err, testtier.EnvRequireTools)
		}
		t.Skipf("no validation suite: %v", err)
	}
	busybox, err := FindBusybox(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := NewWorkspace(ctx, suite, busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ws.Close(); err != nil {
			t.Errorf("removing the workspace: %v", err)
		}
	}()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "bin", "oci-test")
	opts := RunOptions{LogDir: filepath.Join(out, "logs"), Progress: log}

	hull := Runtime{Name: "hull", Path: filepath.Join(root, "bin", "hull"), Args: []string{"--sandbox=process"}}
	hullWhyNot := CheckVerbs(ctx, hull.Path)
	rts := []Runtime{runc}
	if hullWhyNot == nil {
		rts = append(rts, hull)
	}
	report := NewReport(ctx, suite, rts)
	if hullWhyNot != nil {
		report.Skipped = map[string]string{"hull": hullWhyNot.Error()}
	}
	defer writeReport(t, report, out)

	base, err := ws.Run(ctx, runc, opts)
	report.Results[runc.Name] = base
	if err != nil {
		t.Fatal(err)
	}
	passed := byProgram(base)
	for _, p := range runcMustPass {
		if r, ok := passed[p]; !ok || !r.Pass() {
			t.Errorf("runc fails %s (%s): the harness or this host is broken; logs in %s", p, r.Reason, opts.LogDir)
		}
	}

	t.Run("hull", func(t *testing.T) {
		if hullWhyNot != nil {
			t.Fatalf("cannot compare hull with runc: %v", hullWhyNot)
		}
		got, err := ws.Run(ctx, hull, opts)
		report.Results[hull.Name] = got
		if err != nil {
			t.Fatal(err)
		}
		regs, stale := Compare(base, got, ProcessSandboxExclusions)
		say := t.Logf
		if hullMustMatchRunc {
			say = t.Errorf
		}
		for _, g := range regs {
			say("%s", g)
		}
		for _, p := range stale {
			say("%s passes although ProcessSandboxExclusions lists it (%s): drop it", p, ProcessSandboxExclusions[p])
		}
	})
}

func writeReport(t *testing.T, r *Report, dir string) {
	t.Helper()
	var table strings.Builder
	if err := r.WriteTable(&table); err != nil {
		t.Error(err)
	}
	t.Logf("results (also in %s):\n%s", dir, table.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "table.md"), []byte(table.String()), 0o644); err != nil {
		t.Error(err)
	}
	f, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Error(err)
		return
	}
	if err := r.WriteJSON(f); err != nil {
		t.Error(err)
	}
	if err := f.Close(); err != nil {
		t.Error(err)
	}
}

// repoRoot is two levels up from this package, where go.mod is.
func repoRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("repository root: %w", err)
	}
	return root, nil
}

// logWriter turns written lines into t.Log lines.
func logWriter(t *testing.T) io.Writer {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = pw.Close() // ends the scanner
		<-done
	})
	return pw
}
