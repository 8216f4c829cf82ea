package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bundle writes a bundle with config (a JSON string) and an empty rootfs.
func bundle(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodConfig = `{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"}}`

func TestLoadBundle(t *testing.T) {
	cases := []struct {
		name, config string
		want         string // substring of the error; "" = accepted
	}{
		{"good", goodConfig, ""},
		{"1.3 with a suffix", `{"ociVersion":"1.3.0-rc.1","process":{"args":["true"]},"root":{"path":"rootfs"}}`, ""},
		{"no config", "", "has no config.json"},
		{"bad json", `{"ociVersion":`, "config.json"},
		{"major 2", `{"ociVersion":"2.0.0","process":{"args":["true"]},"root":{"path":"rootfs"}}`, "supports 1.x"},
		{"no version", `{"process":{"args":["true"]},"root":{"path":"rootfs"}}`, "ociVersion is missing"},
		{"garbage version", `{"ociVersion":"latest","process":{"args":["true"]},"root":{"path":"rootfs"}}`, "not a version"},
		{"no process", `{"ociVersion":"1.0.0","root":{"path":"rootfs"}}`, "no process"},
		{"empty args", `{"ociVersion":"1.0.0","process":{"args":[]},"root":{"path":"rootfs"}}`, "args is empty"},
		{"relative cwd", `{"ociVersion":"1.0.0","process":{"args":["x"],"cwd":"tmp"},"root":{"path":"rootfs"}}`, "not an absolute path"},
		{"no root", `{"ociVersion":"1.0.0","process":{"args":["x"]}}`, "no root.path"},
		{"missing rootfs", `{"ociVersion":"1.0.0","process":{"args":["x"]},"root":{"path":"nope"}}`, "root.path"},
		{"relative mount", `{"ociVersion":"1.0.0","process":{"args":["x"]},"root":{"path":"rootfs"},"mounts":[{"destination":"proc","type":"proc"}]}`, "not an absolute path"},
	}
	for _, c := range cases {
		dir := bundle(t, c.config)
		_, s, raw, err := loadBundle(dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && (s == nil || len(raw) == 0):
			t.Errorf("%s: no spec", c.name)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if _, _, _, err := loadBundle(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bundle: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, _, _, err := loadBundle(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as bundle: %v", err)
	}
}

func TestStore(t *testing.T) {
	s := store{root: filepath.Join(t.TempDir(), "root")}
	if err := s.make("c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.make("c1"); !errors.Is(err, ErrExist) {
		t.Fatalf("second make: %v", err)
	}
	if _, err := s.load("c1"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("load before save: %v", err)
	}
	unlock, err := s.lock("c1")
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{State: specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreated, Pid: os.Getpid(), Bundle: "/b"}, Sandbox: SandboxProcess}
	rec.PidStart, _ = pidStart(os.Getpid())
	if err := s.save(rec); err != nil {
		t.Fatal(err)
	}
	unlock()
	got, err := s.load("c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.current().Status != specs.StateCreated {
		t.Errorf("live pid: status %s", got.current().Status)
	}
	// A recycled pid (another start time) means the sandbox is gone.
	got.PidStart++
	if got.current().Status != specs.StateStopped {
		t.Errorf("recycled pid: status %s", got.current().Status)
	}
	ids, err := s.ids()
	if err != nil || len(ids) != 1 || ids[0] != "c1" {
		t.Errorf("ids %v %v", ids, err)
	}
	if _, err := s.load("../c1"); err == nil {
		t.Error("load accepted a path as id")
	}
	// A corrupt state file is an error that names the container, not a panic.
	os.WriteFile(filepath.Join(s.dir("c1"), stateFile), []byte("{"), 0o644)
	if _, err := s.load("c1"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt: %v", err)
	}
	if err := s.remove("c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.lock("c1"); !errors.Is(err, ErrNotExist) {
		t.Errorf("lock after remove: %v", err)
	}
}

func TestCreatingRecordOfDeadCreator(t *testing.T) {
	rec := &Record{State: specs.State{ID: "c", Status: specs.StateCreating}, Creator: os.Getpid()}
	rec.CreatorStart, _ = pidStart(os.Getpid())
	if st := rec.current().Status; st != specs.StateCreating {
		t.Errorf("live creator: %s", st)
	}
	rec.CreatorStart++
	if st := rec.current().Status; st != specs.StateStopped {
		t.Errorf("dead creator: %s, want stopped so that delete cleans up", st)
	}
}

func TestPidFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pid")
	if err := writePidFile(p, 4242); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "4242" {
		t.Errorf("pid file %q, want the bare number", b)
	}
}

func TestChooseSandbox(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	ann := func(v string) *specs.Spec { return &specs.Spec{Annotations: map[string]string{AnnotationSandbox: v}} }
	check := func(flag string, s *specs.Spec, want, wantErr string) {
		t.Helper()
		got, err := chooseSandbox(flag, s, cfg)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("(%q): %v, want error %q", flag, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("(%q): %q %v, want %q", flag, got, err, want)
		}
	}
	check("", &specs.Spec{}, SandboxVM, "")
	check("process", ann("vm"), SandboxProcess, "")
	check("", ann("process"), SandboxProcess, "")
	check("jail", &specs.Spec{}, "", "unknown sandbox")
	os.WriteFile(cfg, []byte(`{"sandbox":"process"}`), 0o644)
	check("", &specs.Spec{}, SandboxProcess, "")
	check("", ann("vm"), SandboxVM, "")
	os.WriteFile(cfg, []byte(`{"sandbox":"process","colour":"blue"}`), 0o644)
	check("", &specs.Spec{}, "", "colour")
}

func TestDefaultSpecLoads(t *testing.T) {
	for _, rootless := range []bool{false, true} {
		s := DefaultSpec(rootless, 1000, 1000)
		if err := checkSpec(s, bundle(t, "")); err != nil {
			t.Errorf("rootless=%v: %v", rootless, err)
		}
	}
}
