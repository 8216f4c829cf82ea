package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestResolve(t *testing.T) {
	self := func() (string, error) { return "/user.slice/user-0.slice/session-1.scope", nil }
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"/hull/abc", "/hull/abc", nil},
		{"/hull//abc/", "/hull/abc", nil},
		{"/a/../../b", "/b", nil},
		{"/..", "", ErrInvalidPath},
		{"/", "", ErrInvalidPath},
		{"", "", ErrEmptyPath},
		// Relative: under the parent of the caller's own cgroup.
		{"hull/abc", "/user.slice/user-0.slice/hull/abc", nil},
		{"../../../../x", "/user.slice/user-0.slice/x", nil},
		// systemd form.
		{"system.slice:docker:abc", "/system.slice/docker-abc.scope", nil},
		{":hull:abc", "/system.slice/hull-abc.scope", nil},
		{"machine-hull.slice:hull:abc", "/machine.slice/machine-hull.slice/hull-abc.scope", nil},
		{"-.slice:hull:abc", "/hull-abc.scope", nil},
		{"system.slice::abc", "/system.slice/-abc.scope", nil},
		{"user.slice:hull:pod.slice", "/user.slice/pod.slice", nil},
		{"a--b.slice:hull:abc", "", ErrInvalidPath},
		{"notaslice:hull:abc", "", ErrInvalidPath},
		{"system.slice:hull:", "", ErrInvalidPath},
	} {
		got, err := Resolve(tc.in, self)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	// The caller's cgroup is read only for relative paths.
	broken := func() (string, error) { return "", errors.New("no /proc") }
	if _, err := Resolve("/abs", broken); err != nil {
		t.Errorf("absolute path read the own cgroup: %v", err)
	}
	if _, err := Resolve("rel", broken); err == nil {
		t.Error("relative path without own cgroup: no error")
	}
	root := func() (string, error) { return "/", nil }
	if got, _ := Resolve("a", root); got != "/a" {
		t.Errorf("relative to root: %q", got)
	}
	if got := DefaultPath("abc"); got != "/hull/abc" {
		t.Errorf("DefaultPath = %q", got)
	}
}

func TestOwnCgroup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cgroup")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("12:pids:/docker/x\n1:name=systemd:/x\n0::/user.slice/u.scope\n")
	if got, err := ownCgroup(p); got != "/user.slice/u.scope" || err != nil {
		t.Errorf("ownCgroup = %q, %v", got, err)
	}
	write("12:pids:/docker/x\n")
	if _, err := ownCgroup(p); !errors.Is(err, ErrNoCgroup2) {
		t.Errorf("v1-only /proc/self/cgroup: %v, want ErrNoCgroup2", err)
	}
}

func TestNotCgroup2(t *testing.T) {
	err := checkCgroup2(t.TempDir())
	if !errors.Is(err, ErrNoCgroup2) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("checkCgroup2(tempdir) = %v, want ErrNoCgroup2", err)
	}
	// On this host, New either works on the real hierarchy (that is the
	// host tier's job) or says why not.
	if checkCgroup2(DefaultRoot) != nil {
		_, err := New("/hull/unit-test-never-created")
		if !errors.Is(err, ErrNoCgroup2) {
			t.Fatalf("New on a non-cgroup2 host: %v, want ErrNoCgroup2", err)
		}
		t.Logf("this host: %v", err)
	}
}
