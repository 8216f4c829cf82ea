package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestVMHostBinds: which of a config's mounts the vm sandbox serves from
// the host: bind mounts (type or option) of directories and regular files,
// relative sources taken from the bundle; other mounts and device-node
// sources are left alone; the last of ro/rw wins; a missing source is an
// error naming it.
func TestVMHostBinds(t *testing.T) {
	bundle := t.TempDir()
	dir, file := filepath.Join(bundle, "d"), filepath.Join(bundle, "f")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/a", Type: "bind", Source: dir},
		{Destination: "/b", Source: "f", Options: []string{"bind", "ro"}},
		{Destination: "/c", Type: "none", Source: dir + "/", Options: []string{"rbind", "ro", "rw"}},
		{Destination: "/dev/n", Source: "/dev/null", Options: []string{"bind"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro"}},
	}}
	got, err := VMHostBinds(s, bundle)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostBind{
		{Index: 1, Source: dir, Dir: true},
		{Index: 2, Source: file, ReadOnly: true},
		{Index: 3, Source: dir, Dir: true, Recursive: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] %+v, want %+v", i, got[i], want[i])
		}
	}
	if got[1].Name() != "2/f" || (HostBind{Index: 7, Source: "/"}).Name() != "7/root" {
		t.Errorf("name %q", got[1].Name())
	}

	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/nonexistent/src", Options: []string{"rbind"}})
	if _, err := VMHostBinds(s, bundle); err == nil || !strings.Contains(err.Error(), "/nonexistent/src") || !strings.Contains(err.Error(), "mounts[6]") {
		t.Errorf("missing source: %v", err)
	}
	s.Mounts = []specs.Mount{{Destination: "/x", Source: dir, Options: []string{"rbind", "idmap"}}}
	if _, err := VMHostBinds(s, bundle); err == nil || !strings.Contains(err.Error(), "idmap") {
		t.Errorf("an option the agent refuses: %v", err)
	}
	s.Mounts = []specs.Mount{{Destination: "/x", Type: "bind"}}
	if _, err := VMHostBinds(s, bundle); err == nil || !strings.Contains(err.Error(), "needs a source") {
		t.Errorf("no source: %v", err)
	}
}
