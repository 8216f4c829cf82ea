package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	sh := func(script string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: []string{"OUT=" + out}}
	}
	// The state arrives on stdin; env and args are the hook's own.
	if err := Run("prestart", []specs.Hook{sh(`cat >> "$OUT"`), sh(`echo second >> "$OUT"`)}, []byte(`{"id":"c"}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != `{"id":"c"}second`+"\n" {
		t.Errorf("hooks wrote %q", b)
	}
	// Run stops at the first failure and quotes its output.
	os.Remove(out)
	err := Run("createRuntime", []specs.Hook{sh(`echo broken; exit 3`), sh(`echo never >> "$OUT"`)}, nil)
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook #0") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("failing hook: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("Run went on after a failure")
	}
	// RunAll goes on and reports every failure.
	err = RunAll("poststop", []specs.Hook{sh(`exit 1`), sh(`echo ran >> "$OUT"`), sh(`exit 2`)}, nil)
	if err == nil || !strings.Contains(err.Error(), "#0") || !strings.Contains(err.Error(), "#2") {
		t.Errorf("RunAll: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "ran\n" {
		t.Errorf("RunAll skipped a hook: %q", b)
	}
	one := 1
	slow := sh(`sleep 5`)
	slow.Timeout = &one
	if err := Run("poststart", []specs.Hook{slow}, nil); err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Errorf("timeout: %v", err)
	}
	zero := 0
	slow.Timeout = &zero
	if err := Run("poststart", []specs.Hook{slow}, nil); err == nil || !strings.Contains(err.Error(), "not positive") {
		t.Errorf("zero timeout: %v", err)
	}
}
