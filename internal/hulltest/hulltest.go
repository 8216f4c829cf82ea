// Package hulltest gives tests that run the hull binary one copy of it:
// HULL_BIN when set (the Makefile's bin/hull), else cmd/hull built once per
// test binary into a temporary directory.
//
//	func TestMain(m *testing.M) { code := m.Run(); hulltest.Cleanup(); os.Exit(code) }
//	bin := hulltest.Bin(t)
package hulltest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hullvm/hull/internal/testtier"
)

// EnvBin names a prebuilt hull binary.
const EnvBin = "HULL_BIN"

var (
	once   sync.Once
	dir    string
	bin    string
	errBin error
)

// Bin returns the hull binary to test.
func Bin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBin); p != "" {
		return p
	}
	goBin := testtier.RequireTool(t, "go")
	once.Do(func() {
		if dir, errBin = os.MkdirTemp("", "hull-test-"); errBin != nil {
			return
		}
		bin = filepath.Join(dir, "hull")
		cmd := exec.Command(goBin, "build", "-o", bin, "github.com/hullvm/hull/cmd/hull")
		if out, err := cmd.CombinedOutput(); err != nil {
			errBin = fmt.Errorf("go build ./cmd/hull: %v\n%s", err, out)
		}
	})
	if errBin != nil {
		t.Fatal(errBin)
	}
	return bin
}

// Cleanup removes the binary Bin built, if any (call it from TestMain).
func Cleanup() {
	if dir != "" {
		_ = os.RemoveAll(dir) // a temp dir; nothing to report if it lingers
	}
}
