package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A filter cannot be removed, so Install is tested in a child: the test
// binary run again with childEnv naming the case. No root is needed:
// no_new_privs lets any process install a filter.
const (
	childEnv    = "HULL_SECCOMP_TEST_CHILD"
	childDirEnv = "HULL_SECCOMP_TEST_DIR"
)

func TestMain(m *testing.M) {
	if c := os.Getenv(childEnv); c != "" {
		os.Exit(childMain(c, os.Getenv(childDirEnv)))
	}
	os.Exit(m.Run())
}

// childProfile is the filter each case installs.
func childProfile(c string) *specs.LinuxSeccomp {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd"}, Action: specs.ActErrno},
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV)),
				Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0o700, Op: specs.OpEqualTo}}},
			{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ERANGE)),
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0xffffffff, Op: specs.OpGreaterThan}}},
		},
	}
	switch c {
	case "tsync":
		s.Flags = []specs.LinuxSeccompFlag{flagTSYNC}
	case "kill":
		s.Syscalls[0].Action = specs.ActKillProcess
	}
	return s
}

// childMain runs in the child: it installs the case's filter on its locked
// thread, makes the calls and prints "name: result" lines.
func childMain(c, dir string) int {
	runtime.LockOSThread()
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		fmt.Println("setrlimit:", err)
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("prctl:", err)
		return 2
	}
	if err := Install(childProfile(c)); err != nil {
		fmt.Println("install:", err)
		return 3
	}
	report := func(name string, err error) {
		if err == nil {
			fmt.Printf("%s: ok\n", name)
			return
		}
		fmt.Printf("%s: %s\n", name, unix.ErrnoName(err.(unix.Errno)))
	}
	buf := make([]byte, 4096)
	switch c {
	case "errno":
		_, err := unix.Getcwd(buf)
		report("getcwd", err)
		report("mkdirat 0700", unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "a"), 0o700))
		report("mkdirat 0755", unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "b"), 0o755))
		fd, err := unix.Open(filepath.Join(dir, "f"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
		if err != nil {
			report("open", err)
			return 4
		}
		_, err = unix.Seek(fd, 1<<32+5, 0)
		report("lseek 4G+5", err)
		_, err = unix.Seek(fd, 0xffffffff, 0)
		report("lseek 4G-1", err)
	case "tsync":
		// Other threads are filtered too: try from many goroutines,
		// which the scheduler spreads over the process's threads.
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = unix.Getcwd(make([]byte, 4096))
			}()
		}
		wg.Wait()
		all := true
		for _, err := range errs {
			all = all && err == unix.EPERM
		}
		fmt.Printf("getcwd everywhere EPERM: %v\n", all)
	case "kill":
		_, err := unix.Getcwd(buf)
		report("survived getcwd", err)
	}
	return 0
}

func runChild(t *testing.T, c string) (string, *os.ProcessState) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("seccomp filters are compiled for x86-64 only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+c, childDirEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("child: %v", err)
	}
	if strings.HasPrefix(string(out), "install:") && (strings.Contains(string(out), "function not implemented") || strings.Contains(string(out), "invalid argument")) {
		t.Skipf("no seccomp filter support on this kernel: %s", strings.TrimSpace(string(out)))
	}
	return string(out), cmd.ProcessState
}

func TestInstallErrno(t *testing.T) {
	out, st := runChild(t, "errno")
	if st.ExitCode() != 0 {
		t.Fatalf("child exited with %v:\n%s", st, out)
	}
	for _, want := range []string{
		"getcwd: EPERM",       // default errno
		"mkdirat 0700: EXDEV", // errnoRet, argument match
		"mkdirat 0755: ok",    // argument mismatch: default allow
		"lseek 4G+5: ERANGE",  // high half of a 64-bit argument
		"lseek 4G-1: ok",      // low half alone does not match
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

func TestInstallTSYNC(t *testing.T) {
	out, st := runChild(t, "tsync")
	if st.ExitCode() != 0 || !strings.Contains(out, "getcwd everywhere EPERM: true\n") {
		t.Fatalf("child exited with %v:\n%s", st, out)
	}
}

func TestInstallKill(t *testing.T) {
	out, st := runChild(t, "kill")
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child ended with %v, want killed by SIGSYS:\n%s", st, out)
	}
	if strings.Contains(out, "survived") {
		t.Fatalf("child survived a KILL_PROCESS rule:\n%s", out)
	}
}

func TestInstallNil(t *testing.T) {
	if err := Install(nil); err != nil {
		t.Fatalf("Install(nil) = %v", err)
	}
}

func TestInstallErrorUnwraps(t *testing.T) {
	err := error(&InstallError{Errno: unix.EACCES, Hint: "set no_new_privs first"})
	if !errors.Is(err, unix.EACCES) {
		t.Fatalf("%v does not match EACCES", err)
	}
	t.Log(err)
}
