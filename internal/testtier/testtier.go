package testtier

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Environment variables read by the helpers (see the package doc).
const (
	EnvTier         = "HULL_TIER"
	EnvRequireKVM   = "HULL_REQUIRE_KVM"
	EnvRequireRoot  = "HULL_REQUIRE_ROOT"
	EnvRequireTools = "HULL_REQUIRE_TOOLS"
)

// KVMDevice is the device RequireKVM opens.
const KVMDevice = "/dev/kvm"

// host is what the helpers look at; tests of this package replace it.
type host struct {
	getenv   func(string) string
	geteuid  func() int
	kvmPath  string
	lookPath func(string) (string, error)
	stat     func(string) (os.FileInfo, error)
}

var realHost = host{
	getenv:   os.Getenv,
	geteuid:  os.Geteuid,
	kvmPath:  KVMDevice,
	lookPath: exec.LookPath,
	stat:     os.Stat,
}

// RequireKVM skips t with "no /dev/kvm: <reason>" unless /dev/kvm opens
// read-write; with HULL_REQUIRE_KVM=1 it fails t instead.
func RequireKVM(t testing.TB) {
	t.Helper()
	realHost.requireKVM(t)
}

// RequireRoot skips t with "needs root: <reason>" unless the effective user
// is root; with HULL_REQUIRE_ROOT=1 it fails t instead.
func RequireRoot(t testing.TB) {
	t.Helper()
	realHost.requireRoot(t)
}

// RequireTool skips t with "no <name>: <reason>" unless name is found in
// PATH; with HULL_REQUIRE_TOOLS=1 it fails t instead. It returns the path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	return realHost.requireTool(t, name)
}

// RequireFile returns the path named by the environment variable envVar
// (what describes the file, e.g. "guest kernel"). It skips t with
// "no <what>: <reason>" when envVar is unset or the file is missing; with
// HULL_REQUIRE_KVM=1 (the kvm tier, which provides these files) it fails t
// instead.
func RequireFile(t testing.TB, envVar, what string) string {
	t.Helper()
	return realHost.requireFile(t, envVar, what)
}

// missing ends t with one line: Skipf normally, Fatalf when the variable
// require is "1". Both end the test goroutine (runtime.Goexit).
func (h host) missing(t testing.TB, require, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if h.getenv(require) == "1" {
		t.Fatalf("%s (%s=1: this test must not be skipped)", msg, require)
		return
	}
	t.Skip(msg)
}

func (h host) requireKVM(t testing.TB) {
	t.Helper()
	switch tier := h.getenv(EnvTier); tier {
	case "unit", "host":
		h.missing(t, EnvRequireKVM, "no /dev/kvm: kvm-tier test, skipped in the %s tier (%s=%s)", tier, EnvTier, tier)
		return
	}
	f, err := os.OpenFile(h.kvmPath, os.O_RDWR, 0)
	if err != nil {
		h.missing(t, EnvRequireKVM, "no /dev/kvm: %v", err)
		return
	}
	_ = f.Close() // opened only to probe; nothing was written
}

func (h host) requireRoot(t testing.TB) {
	t.Helper()
	if tier := h.getenv(EnvTier); tier == "unit" {
		h.missing(t, EnvRequireRoot, "needs root: host-tier test, skipped in the unit tier (%s=unit)", EnvTier)
		return
	}
	if uid := h.geteuid(); uid != 0 {
		h.missing(t, EnvRequireRoot, "needs root: running as uid %d", uid)
	}
}

func (h host) requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := h.lookPath(name)
	if err != nil {
		h.missing(t, EnvRequireTools, "no %s: %v", name, err)
		return ""
	}
	return p
}

func (h host) requireFile(t testing.TB, envVar, what string) string {
	t.Helper()
	p := h.getenv(envVar)
	if p == "" {
		h.missing(t, EnvRequireKVM, "no %s: %s is not set", what, envVar)
		return ""
	}
	if _, err := h.stat(p); err != nil {
		h.missing(t, EnvRequireKVM, "no %s: %s: %v", what, envVar, err)
		return ""
	}
	return p
}
