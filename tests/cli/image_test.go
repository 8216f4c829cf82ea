package clitests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The `hull image` verbs that need no build: usage, bad input, and
// `default` without and with an image. Building is guestimage's (and make
// guest's) business.

func TestImageUsage(t *testing.T) {
	r := hull(t, "image", "--help")
	if r.status != 0 || !strings.Contains(r.stdout, "hull image build") || !strings.Contains(r.stdout, "hull image default") {
		t.Errorf("hull image --help: status %d, stdout %q", r.status, r.stdout)
	}
	r = hull(t, "image", "build", "--help")
	if r.status != 0 || !strings.Contains(r.stdout, "--rebuild") {
		t.Errorf("hull image build --help: status %d, stdout %q", r.status, r.stdout)
	}
}

func TestImageBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"image", "bogus"},
		{"image", "build", "extra"},
		{"image", "build", "--no-such-flag"},
		{"image", "default", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := hull(t, args...)
			wantOneLineError(t, r)
			if r.status != 2 {
				t.Errorf("exit status %d, want 2 (usage)", r.status)
			}
		})
	}
}

func TestImageDefault(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HULL_CACHE", cache)
	r := hull(t, "image", "default")
	wantOneLineError(t, r)
	if !strings.Contains(r.stderr, "no default guest image") || !strings.Contains(r.stderr, "hull image build") {
		t.Errorf("stderr %q, want it to say there is no image and how to build one", r.stderr)
	}

	dir := filepath.Join(cache, "image-0123456789abcdef")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"vmlinux", "initrd"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(dir), filepath.Join(cache, "image-default")); err != nil {
		t.Fatal(err)
	}
	r = hull(t, "image", "default")
	want := filepath.Join(dir, "vmlinux") + "\n" + filepath.Join(dir, "initrd") + "\n"
	if r.status != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("status %d, stdout %q, stderr %q; want 0 and %q", r.status, r.stdout, r.stderr, want)
	}
}
