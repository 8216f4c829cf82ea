package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrBadConfig is a bundle whose config.json hull refuses.
var ErrBadConfig = errors.New("invalid configuration")

// loadBundle reads and checks <bundle>/config.json. It returns the
// absolute bundle path, the parsed spec and the raw JSON (which is what
// travels to the agent, unchanged).
func loadBundle(bundle string) (string, *specs.Spec, []byte, error) {
	if bundle == "" {
		bundle = "."
	}
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil, fmt.Errorf("bundle %s does not exist", abs)
		}
		return "", nil, nil, fmt.Errorf("bundle: %w", err)
	}
	if !st.IsDir() {
		return "", nil, nil, fmt.Errorf("bundle %s is not a directory", abs)
	}
	raw, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil, fmt.Errorf("%w: %s has no config.json", ErrBadConfig, abs)
		}
		return "", nil, nil, fmt.Errorf("reading config.json: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", nil, nil, fmt.Errorf("%w: config.json: %v", ErrBadConfig, err)
	}
	if err := checkSpec(&s, abs); err != nil {
		return "", nil, nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	return abs, &s, raw, nil
}

// checkSpec is what hull requires of a config before anything starts:
// the rest is the agent's to refuse.
func checkSpec(s *specs.Spec, bundle string) error {
	if err := checkOCIVersion(s.Version); err != nil {
		return err
	}
	if s.Process == nil {
		return errors.New("config.json has no process")
	}
	if len(s.Process.Args) == 0 && s.Process.CommandLine == "" {
		return errors.New("process.args is empty")
	}
	if s.Process.Cwd != "" && !filepath.IsAbs(s.Process.Cwd) {
		return fmt.Errorf("process.cwd %q is not an absolute path", s.Process.Cwd)
	}
	if s.Root == nil || s.Root.Path == "" {
		return errors.New("config.json has no root.path")
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("root.path: %v", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("root.path %s is not a directory", root)
	}
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mounts[%d]: destination %q is not an absolute path", i, m.Destination)
		}
	}
	return nil
}

// checkOCIVersion accepts 1.x.y (with pre-release suffixes): the major
// version is a promise of compatibility, the minor only adds fields.
func checkOCIVersion(v string) error {
	if v == "" {
		return errors.New("ociVersion is missing")
	}
	major, _, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if !ok || err != nil {
		return fmt.Errorf("ociVersion %q is not a version", v)
	}
	if n != specs.VersionMajor {
		return fmt.Errorf("ociVersion %q: hull supports %d.x", v, specs.VersionMajor)
	}
	return nil
}

// RootfsPath is the container's root directory on the host.
func RootfsPath(s *specs.Spec, bundle string) string {
	if filepath.IsAbs(s.Root.Path) {
		return s.Root.Path
	}
	return filepath.Join(bundle, s.Root.Path)
}
