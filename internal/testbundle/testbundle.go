// Package testbundle makes OCI bundles for tests: a rootfs holding the
// host's static busybox and links for the applets a test uses, and the
// config.json a test gives.
//
//	rootfs := testbundle.Rootfs(t, dir, "sh", "echo")
//	testbundle.WriteSpec(t, dir, spec)
package testbundle

import (
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/internal/testtier"
)

// Busybox returns the static busybox to put in a rootfs; a dynamically
// linked one (no busybox-static) skips the test, as a missing tool does.
func Busybox(t testing.TB) string {
	t.Helper()
	bb := testtier.RequireTool(t, "busybox")
	if f, err := elf.Open(bb); err == nil {
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Skipf("no static busybox: %s is dynamically linked (install busybox-static)", bb)
			}
		}
	}
	return bb
}

// Rootfs makes dir/rootfs with bin/busybox, a link per applet in bin/, and
// empty bin, dev, etc, proc, root, sys and tmp directories; it returns the
// rootfs's path.
func Rootfs(t testing.TB, dir string, applets ...string) string {
	t.Helper()
	bb := Busybox(t)
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "dev", "etc", "proc", "root", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return rootfs
}

// WriteSpec writes s as dir/config.json.
func WriteSpec(t testing.TB, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
