package guestimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
)

const fragmentPath = "../guest/kernel.config"

func TestCheckKernelConfig(t *testing.T) {
	fragment := []byte(`# comment
CONFIG_A=y
CONFIG_NR=32
CONFIG_S="x y"
# CONFIG_OFF is not set
# CONFIG_GONE is not set
# a comment that looks like # CONFIG_X is not set, in the middle

CONFIG_DROPPED=y
CONFIG_MOD=y
# CONFIG_ON is not set
`)
	config := []byte(`CONFIG_A=y
CONFIG_NR=2
CONFIG_S="x y"
# CONFIG_OFF is not set
CONFIG_MOD=m
CONFIG_ON=y
CONFIG_OTHER=y
`)
	got := CheckKernelConfig(fragment, config)
	want := []string{
		"CONFIG_NR=32: the .config has CONFIG_NR=2",
		"CONFIG_DROPPED=y: not set in the .config (a dependency off?)",
		"CONFIG_MOD=y: the .config has CONFIG_MOD=m",
		"CONFIG_ON: the fragment turns it off, the .config has CONFIG_ON=y",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKernelConfigCached checks the fragment against the final .config of
// the cached kernel built from it (guest/build-kernel.sh keeps it), when
// there is one: a unit-tier check that needs no kernel source.
func TestKernelConfigCached(t *testing.T) {
	fragment, err := os.ReadFile(fragmentPath)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := CacheDir()
	if err != nil {
		t.Skip(err)
	}
	sum := sha256.Sum256(fragment)
	want := "fragment_sha256=" + hex.EncodeToString(sum[:])
	infos, _ := filepath.Glob(filepath.Join(cache, "kernel-*", "info"))
	for _, info := range infos {
		b, err := os.ReadFile(info)
		if err != nil || !slices.Contains(strings.Fields(string(b)), want) {
			continue
		}
		config, err := os.ReadFile(filepath.Join(filepath.Dir(info), "config"))
		if err != nil {
			t.Fatal(err)
		}
		if p := CheckKernelConfig(fragment, config); len(p) > 0 {
			t.Errorf("%s does not honour guest/kernel.config:\n%s", filepath.Dir(info), strings.Join(p, "\n"))
		}
		return
	}
	t.Skipf("no kernel built from the current guest/kernel.config in %s (make guest builds one)", cache)
}

// TestKernelConfigMerge runs the real thing: tinyconfig + merge_config.sh
// -n with the fragment (guest/build-kernel.sh --config-only, about 30-70 s),
// and then again with a fragment that lacks CONFIG_BLK_DEV=y, the menu
// CONFIG_VIRTIO_BLK lives in: the script and CheckKernelConfig must both
// catch the dropped option. Host tier: root (the script installs
// linux-source-6.1 if missing) and build tools.
func TestKernelConfigMerge(t *testing.T) {
	testtier.RequireRoot(t)
	for _, tool := range []string{"make", "gcc", "flex", "bison", "tar", "xz"} {
		testtier.RequireTool(t, tool)
	}
	fragment, err := os.ReadFile(fragmentPath)
	if err != nil {
		t.Fatal(err)
	}
	merge := func(frag string) ([]byte, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "../guest/build-kernel.sh", "--install", "--config-only", "--fragment", frag)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return out, stderr.String(), err
	}

	// The two runs unpack the kernel source each: in parallel.
	t.Run("fragment", func(t *testing.T) {
		t.Parallel()
		config, stderr, err := merge(fragmentPath)
		if err != nil {
			t.Fatalf("build-kernel.sh --config-only: %v\n%s", err, stderr)
		}
		if p := CheckKernelConfig(fragment, config); len(p) > 0 {
			t.Errorf("the final .config does not honour guest/kernel.config:\n%s", strings.Join(p, "\n"))
		}
		if !bytes.Contains(config, []byte("\nCONFIG_64BIT=y\n")) {
			t.Errorf("no CONFIG_64BIT=y: not an x86_64 configuration?")
		}
	})

	t.Run("dropped option", func(t *testing.T) {
		t.Parallel()
		broken := bytes.Replace(fragment, []byte("\nCONFIG_BLK_DEV=y\n"), []byte("\n"), 1)
		if bytes.Equal(broken, fragment) {
			t.Fatal("guest/kernel.config has no CONFIG_BLK_DEV=y line to remove")
		}
		frag := filepath.Join(t.TempDir(), "broken.config")
		if err := os.WriteFile(frag, broken, 0o644); err != nil {
			t.Fatal(err)
		}
		config, stderr, err := merge(frag)
		if err == nil {
			t.Error("build-kernel.sh --config-only accepted a fragment whose CONFIG_VIRTIO_BLK is dropped")
		}
		if !strings.Contains(stderr, "not in final .config: CONFIG_VIRTIO_BLK=y") {
			t.Errorf("build-kernel.sh did not name CONFIG_VIRTIO_BLK:\n%s", stderr)
		}
		p := CheckKernelConfig(broken, config)
		if !slices.Contains(p, "CONFIG_VIRTIO_BLK=y: not set in the .config (a dependency off?)") {
			t.Errorf("CheckKernelConfig did not catch CONFIG_VIRTIO_BLK:\n%s", strings.Join(p, "\n"))
		}
	})
}
