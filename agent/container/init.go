package container

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/hooks"
)

// Seccomp loads process's seccomp filter into the calling thread (the
// one that execs the container process). The program that runs InitMain
// sets it before calling InitMain (the init is a separate process: a
// value set in the parent does nothing). nil: a config with
// linux.seccomp runs without a filter, with a debug note.
var Seccomp func(*specs.LinuxSeccomp) error

// IsInit reports whether this process was started by Create or Exec as
// an init half: its program must then call InitMain before anything else.
func IsInit() bool { return os.Getenv(envSyncFD) != "" }

// InitMain is the init half. It never returns: it reads its config from
// the sync socket it inherited, sets the container up, waits for Start,
// and execs the container's process; on error it reports the error to
// the parent and exits non-zero.
func InitMain() {
	// Everything below runs on this thread: it may have its own mount
	// namespace and root, its credentials and capabilities are its own
	// (set with per-thread system calls), and it is the thread that execs.
	runtime.LockOSThread()
	// The container dies with the agent: SIGKILL when the thread that
	// started this process exits. (Had the agent died already, the sync
	// socket reads EOF below.)
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0) // cannot fail with a valid signal
	fd, err := strconv.Atoi(os.Getenv(envSyncFD))
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "container init: %s=%q: not started by agent/container\n", envSyncFD, os.Getenv(envSyncFD))
		os.Exit(2)
	}
	_ = os.Unsetenv(envSyncFD)
	unix.CloseOnExec(fd)
	conn := newSyncConn(os.NewFile(uintptr(fd), "container-sync"))
	in := &initProc{conn: conn}
	err = in.run()
	if errors.Is(err, errParentGone) {
		os.Exit(1)
	}
	_ = conn.send(errorMessage(err)) // the parent may be gone too; nothing else to tell
	os.Exit(exitCode(err))
}

// errParentGone: the parent closed the sync socket before Start.
var errParentGone = errors.New("the runtime closed the sync socket")

// exitCode is the init's exit status after a failure: the shell's 127
// (not found) and 126 (not executable) for a process that could not be
// exec'd, 1 for the rest.
func exitCode(err error) int {
	var ee *execError
	if !errors.As(err, &ee) {
		return 1
	}
	var xe *exec.Error
	if errors.As(ee.err, &xe) || errors.Is(ee.err, unix.ENOENT) {
		return 127
	}
	return 126
}

// execError marks a failure of the final exec (or of finding what to exec).
type execError struct{ err error }

func (e *execError) Error() string { return e.err.Error() }
func (e *execError) Unwrap() error { return e.err }

// initProc is the init half's state.
type initProc struct {
	conn *syncConn
	cfg  *initConfig
	last int // cap_last_cap
}

// debugf sends a note to the parent's Options.Debugf.
func (in *initProc) debugf(format string, args ...any) {
	_ = in.conn.send(&message{Type: msgDebug, Text: fmt.Sprintf(format, args...)}) // best effort
}

func (in *initProc) run() error {
	m, err := in.conn.recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errParentGone
		}
		return err
	}
	if m.Type != msgConfig || m.Config == nil || m.Config.Process == nil || m.Config.Spec == nil {
		return fmt.Errorf("container init: expected a config, got %q", m.Type)
	}
	in.cfg = m.Config
	// Descriptors the agent did not mean to pass stay out of the
	// container: all above the preserved ones close at exec.
	closeExecFrom(3 + in.cfg.NumExtra)
	in.last = lastCap()
	switch in.cfg.Mode {
	case modeInit:
		return in.initContainer()
	case modeExec:
		return in.execInContainer()
	}
	return fmt.Errorf("container init: unknown mode %q", in.cfg.Mode)
}

// initContainer is runc's standard init: rootfs, then the process's
// attributes, then wait for Start and exec.
func (in *initProc) initContainer() error {
	cfg := in.cfg
	s, p := cfg.Spec, cfg.Process
	lx := s.Linux
	if lx == nil {
		lx = &specs.Linux{}
	}
	if cfg.MountNSFD >= 0 {
		if err := joinMountNS(cfg.MountNSFD); err != nil {
			return err
		}
	}
	ppid := unix.Getppid()
	if err := setOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return err
	}
	if err := in.prepareRootfs(lx); err != nil {
		return err
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", s.Hostname, err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("setdomainname %q: %w", s.Domainname, err)
		}
	}
	if lx.MountLabel != "" {
		in.debugf("linux.mountLabel %q ignored: no SELinux support", lx.MountLabel)
	}
	if err := writeSysctls(lx.Sysctl); err != nil {
		return err
	}
	for _, path := range lx.ReadonlyPaths {
		if err := readonlyPath(path); err != nil {
			return err
		}
	}
	for _, path := range lx.MaskedPaths {
		if err := maskPath(path); err != nil {
			return err
		}
	}
	if lx.Personality != nil {
		if err := setPersonality(lx.Personality); err != nil {
			return err
		}
	}
	if err := in.setupProcess(); err != nil {
		return err
	}
	// Changing credentials cleared the parent-death signal.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_PDEATHSIG: %w", err)
	}
	if unix.Getppid() != ppid {
		return errParentGone // re-parented: the agent died
	}
	if err := in.conn.send(&message{Type: msgReady}); err != nil {
		return errParentGone
	}
	m, err := in.conn.recv()
	if err != nil {
		return errParentGone
	}
	if m.Type != msgStart {
		return fmt.Errorf("container init: expected start, got %q", m.Type)
	}
	if s.Hooks != nil {
		if err := hooks.RunIn("", "startContainer", s.Hooks.StartContainer, m.State); err != nil {
			return err
		}
	}
	return in.exec()
}

// execInContainer sets up a process Exec'd into a running container.
func (in *initProc) execInContainer() error {
	cfg := in.cfg
	if err := joinMountNS(cfg.MountNSFD); err != nil {
		return err
	}
	// The init's root, whether it got there by pivot_root or chroot.
	if err := unix.Fchdir(cfg.RootFD); err != nil {
		return fmt.Errorf("fchdir to the container's root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot into the container's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := setOOMScoreAdj(cfg.Process.OOMScoreAdj); err != nil {
		return err
	}
	if err := in.setupProcess(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_PDEATHSIG: %w", err)
	}
	return in.exec()
}

// joinMountNS moves this thread alone into a mount namespace: setns
// refuses a thread that shares its file-system context (CLONE_FS) with
// others, and every Go thread does.
func joinMountNS(fd int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join the mount namespace: setns: %w", err)
	}
	return nil
}

// closeExecFrom marks every descriptor from first on close-on-exec.
func closeExecFrom(first int) {
	if err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Before Linux 5.11: walk the table (the host's /proc: not yet pivoted).
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	dfd := int(d.Fd())
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= first && fd != dfd {
			unix.CloseOnExec(fd)
		}
	}
	_ = d.Close() // a directory
}

func setOOMScoreAdj(v *int) error {
	if v == nil {
		return nil
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*v)), 0); err != nil {
		return fmt.Errorf("set oom_score_adj %d: %w", *v, err)
	}
	return nil
}

// exec resolves process.args[0] with the container's PATH, loads the
// seccomp filter when no_new_privileges allows it this late, and execs.
func (in *initProc) exec() error {
	p := in.cfg.Process
	env := processEnv(p)
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return &execError{err}
	}
	if p.NoNewPrivileges {
		if err := in.loadSeccomp(); err != nil {
			return err
		}
	}
	closeExecFrom(3 + in.cfg.NumExtra)
	err = syscall.Exec(path, p.Args, env)
	return &execError{&os.PathError{Op: "exec", Path: path, Err: err}}
}

// loadSeccomp runs the Seccomp hook for linux.seccomp.
func (in *initProc) loadSeccomp() error {
	lx := in.cfg.Spec.Linux
	if lx == nil || lx.Seccomp == nil {
		return nil
	}
	if Seccomp == nil {
		in.debugf("linux.seccomp ignored: this init has no seccomp loader (container.Seccomp is nil)")
		return nil
	}
	if err := Seccomp(lx.Seccomp); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}
