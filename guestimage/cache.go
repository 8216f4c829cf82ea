package guestimage

import (
	"fmt"
	"os"
	"path/filepath"
)

// Names inside the cache directory.
const (
	defaultLink = "image-default" // -> image-<key>, the image Build made last
	kernelName  = "vmlinux"
	initrdName  = "initrd"
	infoName    = "image.json"
)

// EnvCache overrides the cache directory, for Build, Default and
// guest/build-kernel.sh alike.
const EnvCache = "HULL_CACHE"

// CacheDir returns $HULL_CACHE, else ~/.cache/hull (the rule of
// guest/build-kernel.sh, which owns the kernel part of the cache).
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCache); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory: %w (set %s)", err, EnvCache)
	}
	return filepath.Join(home, ".cache", "hull"), nil
}

// Default returns the kernel and initramfs of the default guest image: the
// one `hull image build` (make guest) built last. When there is none, the
// error matches ErrNoImage and says how to build it.
func Default() (kernel, initrd string, err error) {
	cache, err := CacheDir()
	if err != nil {
		return "", "", err
	}
	return defaultIn(cache)
}

func defaultIn(cache string) (kernel, initrd string, err error) {
	dir, err := filepath.EvalSymlinks(filepath.Join(cache, defaultLink))
	if err != nil {
		return "", "", fmt.Errorf("%w in %s (build it: hull image build, or make guest)", ErrNoImage, cache)
	}
	kernel, initrd = filepath.Join(dir, kernelName), filepath.Join(dir, initrdName)
	for _, p := range []string{kernel, initrd} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%w: %v (rebuild it: hull image build, or make guest)", ErrNoImage, err)
		}
	}
	return kernel, initrd, nil
}

// setDefault points image-default at dir (a sibling), atomically.
func setDefault(cache, dir string) error {
	tmp := filepath.Join(cache, fmt.Sprintf(".%s.%d", defaultLink, os.Getpid()))
	_ = os.Remove(tmp) // a leftover of a crashed run with our PID, if any
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(cache, defaultLink)); err != nil {
		_ = os.Remove(tmp) // best effort; the rename error is what matters
		return err
	}
	return nil
}
