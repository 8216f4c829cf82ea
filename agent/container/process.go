package container

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupProcess applies process's attributes to the calling thread, in
// runc's order: no_new_privileges, seccomp (without no_new_privileges it
// needs CAP_SYS_ADMIN, so before the capabilities go), rlimits, I/O
// priority, then the bounding set, the user and groups, the working
// directory, the capability sets and the umask.
func (in *initProc) setupProcess() error {
	p := in.cfg.Process
	if p.ApparmorProfile != "" {
		in.debugf("process.apparmorProfile %q ignored: no AppArmor support", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" {
		in.debugf("process.selinuxLabel %q ignored: no SELinux support", p.SelinuxLabel)
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
		}
	} else if err := in.loadSeccomp(); err != nil {
		return err
	}
	rl, err := parseRlimits(p.Rlimits)
	if err != nil {
		return err
	}
	if err := setRlimits(rl); err != nil {
		return err
	}
	if p.IOPriority != nil {
		if err := setIOPriority(p.IOPriority); err != nil {
			return err
		}
	}
	caps, skipped := resolveCaps(p.Capabilities, in.last)
	if len(skipped) > 0 {
		in.debugf("capabilities unknown to this kernel or to hull, ignored: %s", strings.Join(skipped, ", "))
	}
	if err := dropBounding(caps.bounding, in.last); err != nil {
		return err
	}
	// Keep the permitted set across the change of user; capset trims it.
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	// Try the working directory as root first: it may be reachable only
	// so (runc does the same); else try again as the user.
	chdirLater := false
	if p.Cwd != "" {
		if err := unix.Chdir(p.Cwd); err != nil {
			if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("chdir to cwd %q set in config.json: %w", p.Cwd, err)
			}
			chdirLater = true
		}
	}
	if err := setUser(p.User.UID, p.User.GID, p.User.AdditionalGids); err != nil {
		return err
	}
	if chdirLater {
		if err := unix.Chdir(p.Cwd); err != nil {
			return fmt.Errorf("chdir to cwd %q set in config.json: %w", p.Cwd, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	if err := applyCaps(caps, in.last); err != nil {
		return err
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	return nil
}

// setUser sets the calling thread's groups, gid and uid with the raw
// system calls: x/sys's Setresuid and friends change every thread of the
// process (Go's POSIX semantics), which this thread does not need and
// which cannot work in every build (AllThreadsSyscall and cgo).
func setUser(uid, gid uint32, groups []uint32) error {
	gs := make([]int, len(groups))
	for i, g := range groups {
		gs[i] = int(g)
	}
	if err := unix.Setgroups(gs); err != nil { // a raw, per-thread setgroups
		return fmt.Errorf("setgroups %v: %w", groups, err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", uid, e)
	}
	return nil
}

// processEnv is process.env plus HOME, from the container's /etc/passwd
// (else "/"), when it is missing (as runc does).
func processEnv(p *specs.Process) []string {
	env := append([]string(nil), p.Env...)
	if _, ok := getenv(env, "HOME"); !ok {
		env = append(env, "HOME="+homeOf(p.User.UID, "/etc/passwd"))
	}
	return env
}

func getenv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// homeOf returns uid's home directory from a passwd file, or "/".
func homeOf(uid uint32, passwd string) string {
	f, err := os.Open(passwd)
	if err != nil {
		return "/"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := strconv.FormatUint(uint64(uid), 10)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 6 && fields[2] == want && fields[5] != "" {
			return fields[5]
		}
	}
	return "/"
}

// defaultPath is searched when process.env has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds file as execvp(3) would with env's PATH, and fails with
// os/exec's error (`exec: "foo": executable file not found in $PATH`).
// Executability is checked with the calling thread's credentials.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil // execve reports what is wrong with it
	}
	path, ok := getenv(env, "PATH")
	if !ok {
		path = defaultPath
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if isExecutable(p) {
			if !filepath.IsAbs(p) && !strings.HasPrefix(p, ".") {
				p = "./" + p
			}
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || fi.Mode()&fs.ModeType != 0 {
		return false
	}
	return unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS) == nil
}
