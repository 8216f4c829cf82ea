package testtier

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how a helper ended the test. Skip and Fatalf end the
// calling goroutine, as the real ones do, so code after them never runs.
type fakeTB struct {
	testing.TB        // nil: calling anything not overridden panics
	outcome    string // "", "skip" or "fatal"
	msg        string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.outcome, f.msg = "skip", fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.outcome, f.msg = "fatal", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs fn on a fresh goroutine (helpers may Goexit) and reports how it
// ended; ran is false when the helper stopped the test.
func call(fn func(t testing.TB)) (f *fakeTB, ran bool) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		ran = true
	}()
	<-done
	return f, ran
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// rwFile stands in for a /dev/kvm that opens read-write.
func rwFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type want struct {
	outcome string // "" = the test goes on
	msg     string // substring of the message
}

func check(t *testing.T, f *fakeTB, ran bool, w want) {
	t.Helper()
	if f.outcome != w.outcome {
		t.Fatalf("outcome %q (msg %q), want %q", f.outcome, f.msg, w.outcome)
	}
	if ran != (w.outcome == "") {
		t.Fatalf("test went on after the helper: %v, want %v", ran, w.outcome == "")
	}
	if !strings.Contains(f.msg, w.msg) {
		t.Fatalf("message %q does not contain %q", f.msg, w.msg)
	}
	if strings.Contains(f.msg, "\n") {
		t.Fatalf("message %q is more than one line", f.msg)
	}
}

func TestRequireKVM(t *testing.T) {
	present := rwFile(t)
	absent := filepath.Join(t.TempDir(), "nokvm")
	readOnly := filepath.Join(t.TempDir(), "rokvm")
	if err := os.WriteFile(readOnly, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		env  func(string) string
		want want
	}{
		{"present", present, env(), want{}},
		{"present, required", present, env(EnvRequireKVM, "1"), want{}},
		{"present, kvm tier", present, env(EnvTier, "kvm", EnvRequireKVM, "1"), want{}},
		{"absent", absent, env(), want{"skip", "no /dev/kvm: "}},
		{"absent, required", absent, env(EnvRequireKVM, "1"), want{"fatal", "no /dev/kvm: "}},
		{"absent, required=0", absent, env(EnvRequireKVM, "0"), want{"skip", "no /dev/kvm: "}},
		{"present, unit tier", present, env(EnvTier, "unit"), want{"skip", "skipped in the unit tier"}},
		{"present, host tier", present, env(EnvTier, "host"), want{"skip", "skipped in the host tier"}},
		{"unit tier, required", present, env(EnvTier, "unit", EnvRequireKVM, "1"), want{"fatal", "unit tier"}},
	}
	if os.Geteuid() != 0 { // root opens a 0400 file read-write anyway
		tests = append(tests, struct {
			name string
			path string
			env  func(string) string
			want want
		}{"read-only", readOnly, env(), want{"skip", "permission denied"}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := realHost
			h.getenv, h.kvmPath = tc.env, tc.path
			f, ran := call(h.requireKVM)
			check(t, f, ran, tc.want)
		})
	}
}

func TestRequireRoot(t *testing.T) {
	tests := []struct {
		name string
		uid  int
		env  func(string) string
		want want
	}{
		{"root", 0, env(), want{}},
		{"root, required", 0, env(EnvRequireRoot, "1"), want{}},
		{"root, host tier", 0, env(EnvTier, "host", EnvRequireRoot, "1"), want{}},
		{"user", 1000, env(), want{"skip", "needs root: running as uid 1000"}},
		{"user, required", 1000, env(EnvRequireRoot, "1"), want{"fatal", "needs root: running as uid 1000"}},
		{"user, other variable set", 1000, env(EnvRequireKVM, "1"), want{"skip", "needs root"}},
		{"root, unit tier", 0, env(EnvTier, "unit"), want{"skip", "skipped in the unit tier"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := realHost
			h.getenv = tc.env
			h.geteuid = func() int { return tc.uid }
			f, ran := call(h.requireRoot)
			check(t, f, ran, tc.want)
		})
	}
}

func TestRequireTool(t *testing.T) {
	look := func(name string) (string, error) {
		if name == "gcc" {
			return "/usr/bin/gcc", nil
		}
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
	tests := []struct {
		name, tool string
		env        func(string) string
		want       want
		path       string
	}{
		{"found", "gcc", env(), want{}, "/usr/bin/gcc"},
		{"found, required", "gcc", env(EnvRequireTools, "1"), want{}, "/usr/bin/gcc"},
		{"missing", "qemu", env(), want{"skip", "no qemu: "}, ""},
		{"missing, required", "qemu", env(EnvRequireTools, "1"), want{"fatal", "no qemu: "}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := realHost
			h.getenv, h.lookPath = tc.env, look
			var got string
			f, ran := call(func(tb testing.TB) { got = h.requireTool(tb, tc.tool) })
			check(t, f, ran, tc.want)
			if got != tc.path {
				t.Fatalf("path %q, want %q", got, tc.path)
			}
		})
	}
}

func TestRequireFile(t *testing.T) {
	file := rwFile(t)
	gone := filepath.Join(t.TempDir(), "gone")
	tests := []struct {
		name string
		env  func(string) string
		want want
		path string
	}{
		{"set", env("HULL_TEST_KERNEL", file), want{}, file},
		{"set, required", env("HULL_TEST_KERNEL", file, EnvRequireKVM, "1"), want{}, file},
		{"unset", env(), want{"skip", "no guest kernel: HULL_TEST_KERNEL is not set"}, ""},
		{"unset, required", env(EnvRequireKVM, "1"), want{"fatal", "HULL_TEST_KERNEL is not set"}, ""},
		{"missing", env("HULL_TEST_KERNEL", gone), want{"skip", "no guest kernel: HULL_TEST_KERNEL: "}, ""},
		{"missing, required", env("HULL_TEST_KERNEL", gone, EnvRequireKVM, "1"), want{"fatal", "no such file"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := realHost
			h.getenv = tc.env
			var got string
			f, ran := call(func(tb testing.TB) { got = h.requireFile(tb, "HULL_TEST_KERNEL", "guest kernel") })
			check(t, f, ran, tc.want)
			if got != tc.path {
				t.Fatalf("path %q, want %q", got, tc.path)
			}
		})
	}
}

// TestChild is the subprocess of TestRealTesting: it runs RequireKVM with the
// real testing.T against the device named by HULL_TESTTIER_DEVICE.
func TestChild(t *testing.T) {
	dev := os.Getenv("HULL_TESTTIER_DEVICE")
	if dev == "" {
		t.Skip("subprocess of TestRealTesting only")
	}
	realHost.kvmPath = dev
	RequireKVM(t)
	fmt.Println("AFTER-REQUIRE")
}

// TestRealTesting checks the helpers against the real testing package:
// a skip must end the test as SKIP (exit 0), a required capability that is
// missing as FAIL (exit 1), and neither may let the test body run on.
func TestRealTesting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses")
	}
	present := rwFile(t)
	absent := filepath.Join(t.TempDir(), "nokvm")
	tests := []struct {
		name, dev, require string
		exit               int
		status             string
		body               bool
	}{
		{"present", present, "", 0, "--- PASS", true},
		{"absent", absent, "", 0, "--- SKIP", false},
		{"absent, required", absent, "1", 1, "--- FAIL", false},
		{"present, required", present, "1", 0, "--- PASS", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "HULL_TESTTIER_DEVICE="+tc.dev,
				EnvRequireKVM+"="+tc.require, EnvTier+"=")
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit || !strings.Contains(string(out), tc.status+": TestChild") ||
				strings.Contains(string(out), "AFTER-REQUIRE") != tc.body {
				t.Fatalf("exit %d, want %d, %q, body ran %v:\n%s", code, tc.exit, tc.status, tc.body, out)
			}
		})
	}
}

// TestRequireKVMHere runs the real helper on this host: it skips without a
// usable /dev/kvm and, once past the helper, the device must open.
func TestRequireKVMHere(t *testing.T) {
	RequireKVM(t)
	f, err := os.OpenFile(KVMDevice, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("RequireKVM passed but %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
