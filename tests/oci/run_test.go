package oci

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

func umask(m int) int { return syscall.Umask(m) }

func TestParseRuntime(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	sh, _ = filepath.Abs(sh)
	rt, err := ParseRuntime("hull=" + sh + " --sandbox=process  --debug")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Runtime{Name: "hull", Path: sh, Args: []string{"--sandbox=process", "--debug"}}); !reflect.DeepEqual(rt, want) {
		t.Errorf("ParseRuntime = %+v, want %+v", rt, want)
	}
	rt, err = ParseRuntime("sh")
	if err != nil || rt.Name != "sh" || !filepath.IsAbs(rt.Path) || len(rt.Args) != 0 {
		t.Errorf("ParseRuntime(sh) = %+v, %v", rt, err)
	}
	for _, bad := range []string{"", "  ", "a/b=" + sh, "x=/nonexistent/runtime"} {
		if _, err := ParseRuntime(bad); err == nil {
			t.Errorf("ParseRuntime(%q) accepted it", bad)
		}
	}
}

// The wrapper passes the state root and the global flags before the
// verb, quoting what needs it, and keeps the caller's arguments intact.
func TestWrapperScript(t *testing.T) {
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Skip("no echo:", err)
	}
	dir := t.TempDir()
	w := filepath.Join(dir, "rt")
	state := filepath.Join(dir, "state it's")
	if err := os.WriteFile(w, []byte(WrapperScript(Runtime{Name: "x", Path: echo, Args: []string{"--sandbox=process"}}, state)), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(w, "kill", "some id", "KILL").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "--root " + state + " --sandbox=process kill some id KILL\n"; string(out) != want {
		t.Errorf("wrapper ran %q, want %q", out, want)
	}
}

func TestMkdirTraversable(t *testing.T) {
	base := t.TempDir()
	old := umask(0o077)
	defer umask(old)
	p, err := mkdirTraversable(base, "tmp", "runc", "create")
	if err != nil {
		t.Fatal(err)
	}
	for q := p; q != base; q = filepath.Dir(q) {
		fi, err := os.Stat(q)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v; want 0755", q, fi.Mode().Perm(), err)
		}
	}
	if _, err := mkdirTraversable(base, "tmp", "runc", "create"); err != nil {
		t.Errorf("second call: %v", err)
	}
}

func TestMountsUnder(t *testing.T) {
	info := []byte(`26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
90 26 254:0 /tmp/oci-1/tmp/runc/p/ocitest7 /tmp/oci-1/tmp/runc/p/ocitest7 rw - ext4 /dev/vda rw
91 90 0:50 / /tmp/oci-1/tmp/runc/p/ocitest7/proc rw - proc proc rw
92 90 0:51 / /tmp/oci-1/tmp/runc/p/ocitest7/dev rw - tmpfs tmpfs rw
93 92 0:52 / /tmp/oci-1/tmp/runc/p/ocitest7/dev/pts rw - devpts devpts rw
94 26 0:53 / /tmp/oci-1/tmp/runc/p2/with\040space rw - tmpfs tmpfs rw
95 26 0:54 / /tmp/oci-10 rw - tmpfs tmpfs rw
`)
	got := mountsUnder(info, "/tmp/oci-1/tmp/runc/p/")
	want := []string{"/tmp/oci-1/tmp/runc/p/ocitest7/dev/pts", "/tmp/oci-1/tmp/runc/p/ocitest7/proc",
		"/tmp/oci-1/tmp/runc/p/ocitest7/dev", "/tmp/oci-1/tmp/runc/p/ocitest7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mountsUnder(p) = %q, want %q", got, want)
	}
	if got := mountsUnder(info, "/tmp/oci-1/tmp/runc/p2"); !reflect.DeepEqual(got, []string{"/tmp/oci-1/tmp/runc/p2/with space"}) {
		t.Errorf("mountsUnder(p2) = %q", got)
	}
}
