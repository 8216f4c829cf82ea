package clitests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The vm sandbox (hull's default) refuses these bundles before it opens
// /dev/kvm, so the tests need no KVM: `hull create` and `hull run` fail
// with one line and a non-zero status, and leave nothing behind: no state
// directory or socket under --root, no VMM process. The cases that need a
// VM (a guest that never answers, one that stops) are in
// tests/kvm/vmsandbox_bad_test.go.

// vmBundle writes a bundle whose config.json is the default one changed by
// edit, with an empty rootfs directory.
func vmBundle(t *testing.T, edit func(cfg map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"ociVersion": "1.0.2",
		"process":    map[string]any{"args": []string{"true"}, "cwd": "/"},
		"root":       map[string]any{"path": "rootfs"},
	}
	if edit != nil {
		edit(cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func annotate(kv ...string) func(map[string]any) {
	return func(cfg map[string]any) {
		a := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			a[kv[i]] = kv[i+1]
		}
		cfg["annotations"] = a
	}
}

// wantNothingLeft checks --root is empty and no process names it.
func wantNothingLeft(t *testing.T, root string) {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left under --root: %s", e.Name())
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(root)) {
			t.Errorf("process left behind: %s: %s", filepath.Dir(p), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

func TestVMSandboxBadInput(t *testing.T) {
	huge := int64(1) << 50 // 1 PiB
	cases := []struct {
		name string
		edit func(cfg map[string]any)
		file bool // rootfs is a file
		env  []string
		want string
	}{
		{name: "rootfs missing", edit: func(c map[string]any) { c["root"] = map[string]any{"path": "nope"} }, want: "root.path"},
		{name: "rootfs not a directory", file: true, want: "is not a directory"},
		{name: "memory annotation beyond the host", edit: annotate("hull.vm.memory_mib", "999999999"),
			want: "the VM would need 999999999 MiB of memory"},
		{name: "memory limit beyond the host", edit: func(c map[string]any) {
			c["linux"] = map[string]any{"resources": map[string]any{"memory": map[string]any{"limit": huge}}}
		}, want: fmt.Sprintf("the VM would need %d MiB of memory", huge>>20+64)},
		{name: "memory annotation not a number", edit: annotate("hull.vm.memory_mib", "lots"), want: "hull.vm.memory_mib"},
		{name: "boot timeout not a duration", edit: annotate("hull.vm.boot_timeout", "soon"), want: "hull.vm.boot_timeout=\"soon\""},
		{name: "boot timeout zero", edit: annotate("hull.vm.boot_timeout", "0s"), want: "more than 0"},
		// The VMM process starts and fails before KVM (no guest image in
		// an empty cache): its error comes back, and it is gone.
		{name: "no guest image", env: []string{"HULL_CACHE=" + t.TempDir()}, want: "no default guest image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := vmBundle(t, c.edit)
			if c.file {
				os.Remove(filepath.Join(b, "rootfs"))
				if err := os.WriteFile(filepath.Join(b, "rootfs"), []byte("not a directory"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			root := filepath.Join(t.TempDir(), "root")
			for _, verb := range []string{"create", "run"} {
				r := hullEnv(t, c.env, "--root", root, "--sandbox", "vm", verb, "--bundle", b, "bad1")
				wantOneLineError(t, r)
				if r.status != 1 || !strings.HasPrefix(r.stderr, "hull: "+verb+": ") || !strings.Contains(r.stderr, c.want) {
					t.Errorf("hull %s: exit %d, stderr %q; want exit 1 and %q", verb, r.status, r.stderr, c.want)
				}
				wantNothingLeft(t, root)
			}
		})
	}
}

// hullEnv is hull (main_test.go) with env added to the environment.
func hullEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hullBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("hull %s: still running after 30 s", strings.Join(args, " "))
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}
