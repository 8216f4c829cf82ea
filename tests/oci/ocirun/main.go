// Command ocirun runs the runtime-tools validation suite against one or
// more OCI runtimes and prints a per-program table (docs/CONFORMANCE.md).
// Run it as root from the repository root, usually through tests/oci/run.sh:
//
//	tests/oci/run.sh                                  # runc, and bin/hull if it has the OCI verbs
//	tests/oci/run.sh -runtime runc -run 'kill|delete' # some programs, one runtime
//	tests/oci/run.sh -runtime runc -runtime 'hull=bin/hull --sandbox=process' -strict
//
// It writes OUT/results.json, OUT/table.md and every program's stdout and
// stderr under OUT/logs/RUNTIME/ (OUT is -out, default bin/oci).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hullvm/hull/tests/oci"
)

type specs []string

func (s *specs) String() string     { return strings.Join(*s, ", ") }
func (s *specs) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var runtimes specs
	flag.Var(&runtimes, "runtime", "runtime to test, repeatable: `NAME=PATH [GLOBAL-FLAG...]` or PATH; the first is the baseline (default: runc, then 'hull=bin/hull --sandbox=process' when bin/hull has the OCI verbs)")
	run := flag.String("run", "", "only the programs matching this `regexp`")
	timeout := flag.Duration("timeout", oci.DefaultTimeout, "limit per program")
	out := flag.String("out", "bin/oci", "where results.json, table.md and logs/ go")
	exclude := flag.String("exclude", "process", "exclusion list for the comparison with the baseline: process, vm or none")
	strict := flag.Bool("strict", false, "exit 1 when a runtime fails a program the baseline passes (outside the exclusion list)")
	keep := flag.Bool("keep", false, "keep the workspace (bundles of timed-out programs, wrappers, state roots)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := mainErr(ctx, config{runtimes, *run, *timeout, *out, *exclude, *strict, *keep})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocirun:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

type config struct {
	specs        []string
	run          string
	timeout      time.Duration
	out, exclude string
	strict, keep bool
}

func mainErr(ctx context.Context, c config) (int, error) {
	specs, run, out, exclude := c.specs, c.run, c.out, c.exclude
	excluded, ok := map[string]map[string]string{
		"process": oci.ProcessSandboxExclusions, "vm": oci.VMSandboxExclusions, "none": {},
	}[exclude]
	if !ok {
		return 0, fmt.Errorf("-exclude %q: want process, vm or none", exclude)
	}
	if os.Geteuid() != 0 {
		return 0, fmt.Errorf("needs root (the runtimes create namespaces, cgroups and mounts)")
	}
	skipped := map[string]string{}
	var rts []oci.Runtime
	if len(specs) == 0 {
		specs = []string{"runc"}
		hull := oci.Runtime{Name: "hull", Path: "bin/hull", Args: []string{"--sandbox=process"}}
		if err := oci.CheckVerbs(ctx, hull.Path); err != nil {
			skipped["hull"] = err.Error()
		} else {
			specs = append(specs, "hull=bin/hull --sandbox=process")
		}
	}
	for _, s := range specs {
		rt, err := oci.ParseRuntime(s)
		if f := strings.Fields(s); err != nil && len(f) > 0 && f[0] == "runc" { // Debian's, installed on demand
			if ierr := oci.AptInstall(ctx, os.Stderr, "runc"); ierr != nil {
				return 0, fmt.Errorf("%v; installing it: %v", err, ierr)
			}
			rt, err = oci.ParseRuntime(s)
		}
		if err != nil {
			return 0, err
		}
		rts = append(rts, rt)
	}
	suite, err := oci.Build(ctx, os.Stderr)
	if err != nil {
		return 0, err
	}
	programs := suite.Programs
	if run != "" {
		re, err := regexp.Compile(run)
		if err != nil {
			return 0, fmt.Errorf("-run: %w", err)
		}
		programs = nil
		for _, p := range suite.Programs {
			if re.MatchString(p) {
				programs = append(programs, p)
			}
		}
		if len(programs) == 0 {
			return 0, fmt.Errorf("-run %q matches none of the %d programs", run, len(suite.Programs))
		}
	}
	busybox, err := oci.FindBusybox(ctx, os.Stderr)
	if err != nil {
		return 0, err
	}
	ws, err := oci.NewWorkspace(ctx, suite, busybox)
	if err != nil {
		return 0, err
	}
	if c.keep {
		fmt.Fprintf(os.Stderr, "ocirun: keeping the workspace %s\n", ws.Dir)
	} else {
		defer func() { _ = ws.Close() }() // scratch only; results are under out
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	report := oci.NewReport(ctx, suite, rts)
	report.Skipped = skipped
	for name, why := range skipped {
		fmt.Fprintf(os.Stderr, "ocirun: not testing %s: %s\n", name, why)
	}
	for _, rt := range rts {
		fmt.Fprintf(os.Stderr, "ocirun: %s (%s %s): %d programs\n", rt.Name, rt.Path, strings.Join(rt.Args, " "), len(programs))
		res, err := ws.Run(ctx, rt, oci.RunOptions{
			Timeout: c.timeout, Programs: programs, Progress: os.Stderr,
			LogDir: filepath.Join(out, "logs"),
		})
		report.Results[rt.Name] = res
		if err != nil {
			return 0, err
		}
	}
	if err := writeOutputs(report, out); err != nil {
		return 0, err
	}
	if err := report.WriteTable(os.Stdout); err != nil {
		return 0, err
	}
	code := 0
	for _, rt := range rts[1:] {
		regs, stale := oci.Compare(report.Results[rts[0].Name], report.Results[rt.Name], excluded)
		fmt.Printf("\n%s against %s (exclusions: %s): %d regression(s)\n", rt.Name, rts[0].Name, exclude, len(regs))
		for _, g := range regs {
			fmt.Println("  " + g.String())
		}
		for _, p := range stale {
			fmt.Printf("  %s passes although excluded (%s): drop it from the list\n", p, excluded[p])
		}
		if c.strict && len(regs) > 0 {
			code = 1
		}
	}
	fmt.Printf("\nresults: %s, %s, logs under %s\n", filepath.Join(out, "results.json"), filepath.Join(out, "table.md"), filepath.Join(out, "logs"))
	return code, nil
}

func writeOutputs(r *oci.Report, out string) error {
	for name, write := range map[string]func(*os.File) error{
		"results.json": func(f *os.File) error { return r.WriteJSON(f) },
		"table.md":     func(f *os.File) error { return r.WriteTable(f) },
	} {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			_ = f.Close() // the write error is what matters
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
