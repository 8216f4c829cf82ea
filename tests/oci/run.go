package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one validation program. The slowest ones wait for
// states with 10 s limits several times over (kill, delete, killsig: about
// 30-60 s against a runtime that never reaches "stopped").
const DefaultTimeout = 3 * time.Minute

// cleanupTimeout bounds each `delete --force` of a leftover container.
const cleanupTimeout = 30 * time.Second

// Runtime is an OCI runtime under test.
type Runtime struct {
	Name string   `json:"name"` // the table's column: "runc", "hull"
	Path string   `json:"path"` // the binary
	Args []string `json:"args"` // global flags put before every verb, e.g. --sandbox=process
}

var runtimeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ParseRuntime parses "NAME=PATH [ARG...]" or "PATH [ARG...]" (the name is
// then PATH's base name), split at spaces: "hull=bin/hull --sandbox=process".
// PATH may be a bare name looked up in $PATH; it becomes absolute.
func ParseRuntime(s string) (Runtime, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Runtime{}, errors.New("empty runtime")
	}
	var rt Runtime
	if name, path, ok := strings.Cut(f[0], "="); ok {
		rt.Name, rt.Path = name, path
	} else {
		rt.Name, rt.Path = filepath.Base(f[0]), f[0]
	}
	rt.Args = f[1:]
	if !runtimeName.MatchString(rt.Name) {
		return Runtime{}, fmt.Errorf("runtime name %q: use letters, digits, '_', '.', '-'", rt.Name)
	}
	p, err := exec.LookPath(rt.Path)
	if err != nil {
		return Runtime{}, fmt.Errorf("runtime %s: %w", rt.Name, err)
	}
	if rt.Path, err = filepath.Abs(p); err != nil {
		return Runtime{}, err
	}
	return rt, nil
}

// Version returns the first line of `PATH --version`, or why there is none.
func (rt Runtime) Version(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, rt.Path, "--version").CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		return fmt.Sprintf("unknown (--version: %v)", err)
	}
	return line
}

// Result is one program's outcome under one runtime.
type Result struct {
	Program   string   `json:"program"`
	Runtime   string   `json:"runtime"`
	Verdict   Verdict  `json:"verdict"`
	Reason    string   `json:"reason"`
	Passed    int      `json:"passed"`  // ok lines, not skipped
	Failed    int      `json:"failed"`  // not ok lines, not TODO
	Skipped   int      `json:"skipped"` // ok # SKIP lines
	Todo      int      `json:"todo"`    // not ok # TODO lines
	Plan      int      `json:"plan"`    // -1 without a plan line
	ExitCode  int      `json:"exit_code"`
	TimedOut  bool     `json:"timed_out,omitempty"`
	Seconds   float64  `json:"seconds"`
	Leftovers []string `json:"leftovers,omitempty"` // containers still in the runtime's state root afterwards (force-deleted)
	// LeakedMounts are mounts left below the program's TMPDIR after it
	// and the cleanup ran (detached by the harness): with no mount
	// namespace in the config, the container's mounts land on the host.
	LeakedMounts []string `json:"leaked_mounts,omitempty"`
	Stdout       string   `json:"-"`
	Stderr       string   `json:"-"`
}

// Pass reports whether the verdict is VerdictPass.
func (r Result) Pass() bool { return r.Verdict == VerdictPass }

// Workspace is one run's scratch directory:
//
//	cwd/          the programs' working directory: runtimetest, rootfs tarball
//	rt/NAME       a wrapper script: exec PATH --root state/NAME ARGS "$@"
//	state/NAME/   the runtime's state root, so leftovers can be found
//	tmp/NAME/P/   TMPDIR for program P (its bundles), removed after it
type Workspace struct {
	Dir   string
	Suite *Suite
}

// NewWorkspace makes a workspace under $TMPDIR with a copy of runtimetest
// and a rootfs tarball built from busybox (see WriteRootfs).
func NewWorkspace(ctx context.Context, s *Suite, busybox string) (*Workspace, error) {
	applets, err := BusyboxApplets(ctx, busybox)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oci-")
	if err != nil {
		return nil, err
	}
	// MkdirTemp makes it 0700; the containers' own root in a user
	// namespace (linux_uid_mappings, linux_ns_nopath: container root is
	// host uid 1000) must traverse it to reach the bundles below.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir) // the chmod error is what matters
		return nil, err
	}
	w := &Workspace{Dir: dir, Suite: s}
	if err := w.fill(busybox, applets); err != nil {
		_ = os.RemoveAll(dir) // the fill error is what matters
		return nil, err
	}
	return w, nil
}

func (w *Workspace) fill(busybox string, applets []string) error {
	cwd := filepath.Join(w.Dir, "cwd")
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		return err
	}
	// Real files, not symlinks: the programs copy runtimetest with
	// fileutils.CopyFile, which copies a symlink as a symlink.
	if err := copyFile(w.Suite.Runtimetest(), filepath.Join(cwd, runtimetestName), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(cwd, RootfsName))
	if err != nil {
		return err
	}
	if err := WriteRootfs(f, busybox, applets); err != nil {
		_ = f.Close() // the write error is what matters
		return err
	}
	return f.Close()
}

// Close removes the workspace, detaching whatever is still mounted in it.
func (w *Workspace) Close() error {
	unmountUnder(w.Dir)
	return os.RemoveAll(w.Dir)
}

// RunOptions tunes Workspace.Run.
type RunOptions struct {
	Timeout  time.Duration // per program; 0 means DefaultTimeout
	Programs []string      // the programs to run, in order; nil means all
	LogDir   string        // when set, LogDir/NAME/P.stdout and .stderr are kept
	Progress io.Writer     // one line per program; nil for none
}

// Run runs the validation programs one at a time against rt, with
// RUNTIME set to a wrapper that gives rt its own state root, and judges
// each (Judge). After each program it force-deletes the containers left in
// that state root and kills what is left of the program's process group.
// The error is for the harness's own failures; a runtime's failures are in
// the results.
func (w *Workspace) Run(ctx context.Context, rt Runtime, opts RunOptions) ([]Result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	programs := opts.Programs
	if programs == nil {
		programs = w.Suite.Programs
	}
	wrapper, state, err := w.wrapper(rt)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, p := range programs {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		r, err := w.runOne(ctx, rt, wrapper, state, p, opts)
		if err != nil {
			return results, fmt.Errorf("%s under %s: %w", p, rt.Name, err)
		}
		if opts.Progress != nil {
			extra := ""
			if len(r.Leftovers) > 0 {
				extra += fmt.Sprintf(" [left %d container(s)]", len(r.Leftovers))
			}
			if len(r.LeakedMounts) > 0 {
				extra += fmt.Sprintf(" [left %d mount(s) on the host]", len(r.LeakedMounts))
			}
			fmt.Fprintf(opts.Progress, "oci: %-6s %-32s %-4s %5.1fs  %s%s\n", rt.Name, p, r.Verdict, r.Seconds, r.Reason, extra)
		}
		results = append(results, r)
	}
	return results, nil
}

// wrapper writes rt/NAME and returns its path and the state root.
func (w *Workspace) wrapper(rt Runtime) (string, string, error) {
	state := filepath.Join(w.Dir, "state", rt.Name)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return "", "", err
	}
	dir := filepath.Join(w.Dir, "rt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, rt.Name)
	return path, state, os.WriteFile(path, []byte(WrapperScript(rt, state)), 0o755)
}

// WrapperScript is the script RUNTIME points at: the validation programs
// call it as they would call runc (`create --bundle B ID`, `state ID`, ...).
func WrapperScript(rt Runtime, state string) string {
	args := append([]string{rt.Path, "--root", state}, rt.Args...)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return "#!/bin/sh\nexec " + strings.Join(args, " ") + " \"$@\"\n"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (w *Workspace) runOne(ctx context.Context, rt Runtime, wrapper, state, program string, opts RunOptions) (Result, error) {
	tmp, err := mkdirTraversable(w.Dir, "tmp", rt.Name, program)
	if err != nil {
		return Result{}, err
	}
	logDir := opts.LogDir
	if logDir == "" {
		logDir = filepath.Join(w.Dir, "log")
	}
	logDir = filepath.Join(logDir, rt.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return Result{}, err
	}
	// Files, not pipes: whatever the program leaves running cannot hold
	// our end open and stall Wait.
	stdout, err := os.Create(filepath.Join(logDir, program+".stdout"))
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = stdout.Close() }() // re-read by name below
	stderr, err := os.Create(filepath.Join(logDir, program+".stderr"))
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = stderr.Close() }()

	cmd := exec.Command(w.Suite.Program(program))
	cmd.Dir = filepath.Join(w.Dir, "cwd")
	cmd.Env = append(os.Environ(), "RUNTIME="+wrapper, "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	pgid := cmd.Process.Pid
	done, killed := make(chan struct{}), make(chan bool, 1)
	go func() {
		t := time.NewTimer(opts.Timeout)
		defer t.Stop()
		select {
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL) // ESRCH: it just exited
			killed <- true
		case <-ctx.Done():
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed <- false
		case <-done:
			killed <- false
		}
	}()
	werr := cmd.Wait()
	close(done)
	timedOut := <-killed
	elapsed := time.Since(start)
	exit := cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return Result{}, werr
	}

	r := Result{Program: program, Runtime: rt.Name, ExitCode: exit, TimedOut: timedOut, Seconds: elapsed.Round(100 * time.Millisecond).Seconds()}
	r.Leftovers = cleanup(ctx, wrapper, state)
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers; ESRCH when none
	r.LeakedMounts = unmountUnder(tmp)
	if err := os.RemoveAll(tmp); err != nil && opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "oci: %s: removing %s: %v\n", program, tmp, err)
	}

	out, err := os.ReadFile(stdout.Name())
	if err != nil {
		return Result{}, err
	}
	errOut, err := os.ReadFile(stderr.Name())
	if err != nil {
		return Result{}, err
	}
	r.Stdout, r.Stderr = string(out), string(errOut)
	v, why, t := Judge(program, Outcome{ExitCode: exit, TimedOut: timedOut, Timeout: opts.Timeout, Stdout: out, Stderr: errOut})
	r.Verdict, r.Reason = v, why
	r.Passed, r.Failed, r.Skipped, r.Todo = t.Counts()
	r.Plan = t.Plan()
	return r, nil
}

// mkdirTraversable makes base/elem... with mode 0755 whatever the umask,
// so that a container's root mapped to an unprivileged host user can reach
// the bundles below (see NewWorkspace).
func mkdirTraversable(base string, elem ...string) (string, error) {
	p := base
	for _, e := range elem {
		p = filepath.Join(p, e)
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
		if err := os.Chmod(p, 0o755); err != nil {
			return "", err
		}
	}
	return p, nil
}

// cleanup force-deletes every container left in the state root (one
// directory per container ID, as runc lays it out) and returns their IDs.
func cleanup(ctx context.Context, wrapper, state string) []string {
	entries, err := os.ReadDir(state)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range entries {
		// hull's vm sandbox keeps its VM templates in <root>/.templates:
		// not a container.
		if !e.IsDir() || e.Name() == ".templates" {
			continue
		}
		ids = append(ids, e.Name())
		cctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		var buf bytes.Buffer
		cmd := exec.CommandContext(cctx, wrapper, "delete", "--force", e.Name())
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if cmd.Run() != nil {
			// The runtime cannot delete it: drop the state so the next
			// program starts clean (its processes die with the group kill).
			_ = os.RemoveAll(filepath.Join(state, e.Name()))
		}
		cancel()
	}
	sort.Strings(ids)
	return ids
}
