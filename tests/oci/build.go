package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/internal/atomicfile"
)

// The runtime-tools revision the suite is built from. Its module zip ships
// a stub vendor/ holding only modules.txt, which breaks `go build`; Build
// removes it.
const (
	ToolsModule  = "github.com/opencontainers/runtime-tools"
	ToolsVersion = "v0.9.1-0.20251205004911-5e639034dcdc"
	// buildRecipe changes the cache key; bump it when Build changes what
	// it produces.
	buildRecipe = "1"
)

// Names inside a suite's cache directory.
const (
	suiteManifest   = "suite.json"
	suiteBin        = "bin"
	runtimetestName = "runtimetest"
)

// Suite is a built validation suite: one program per validation/<name>
// directory of runtime-tools, plus the static runtimetest they copy into
// every bundle. It lives under $HULL_CACHE/oci-<key> and is only read.
type Suite struct {
	Dir      string   `json:"-"`
	Module   string   `json:"module"`
	Version  string   `json:"version"`
	Go       string   `json:"go"`
	Programs []string `json:"programs"` // sorted
}

// Program returns the path of a validation program.
func (s *Suite) Program(name string) string { return filepath.Join(s.Dir, suiteBin, name) }

// Runtimetest returns the path of the static runtimetest binary.
func (s *Suite) Runtimetest() string { return filepath.Join(s.Dir, runtimetestName) }

// Build returns the validation suite, building it on the first call for
// this runtime-tools version and Go toolchain (about 30 s on 2 cores with
// a cold build cache; cached under $HULL_CACHE/oci-<key> afterwards). It
// fetches the module with `go mod download` (the module proxy, or the
// module cache when offline), copies it out of the read-only module cache,
// removes the stub vendor/, and builds like runtime-tools' own Makefile
// (`runtimetest` and `validation-executables`), but with CGO_ENABLED=0 for
// everything: runtimetest runs inside a busybox rootfs, so it must be
// static. Progress goes to log.
func Build(ctx context.Context, log io.Writer) (*Suite, error) {
	cache, err := guestimage.CacheDir()
	if err != nil {
		return nil, err
	}
	goVersion, err := goOutput(ctx, "", "env", "GOVERSION")
	if err != nil {
		return nil, err
	}
	goVersion = strings.TrimSpace(goVersion)
	sum := sha256.Sum256([]byte(strings.Join([]string{ToolsModule, ToolsVersion, goVersion, runtime.GOARCH, buildRecipe}, "\n")))
	dir := filepath.Join(cache, "oci-"+hex.EncodeToString(sum[:8]))
	if s, err := loadSuite(dir); err == nil {
		return s, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cache, ".oci-build-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // gone after the rename; a failed build's leftovers otherwise
	fmt.Fprintf(log, "oci: building runtime-tools %s validation suite with %s into %s\n", ToolsVersion, goVersion, dir)
	s, err := buildInto(ctx, tmp, goVersion)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// A concurrent build won the race: use its result.
		if s, lerr := loadSuite(dir); lerr == nil {
			return s, nil
		}
		return nil, err
	}
	s.Dir = dir
	return s, nil
}

func loadSuite(dir string) (*Suite, error) {
	b, err := os.ReadFile(filepath.Join(dir, suiteManifest))
	if err != nil {
		return nil, err
	}
	s := &Suite{Dir: dir}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, suiteManifest), err)
	}
	if len(s.Programs) == 0 {
		return nil, fmt.Errorf("%s lists no programs", filepath.Join(dir, suiteManifest))
	}
	for _, p := range append([]string{s.Runtimetest()}, programPaths(s)...) {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func programPaths(s *Suite) []string {
	var ps []string
	for _, p := range s.Programs {
		ps = append(ps, s.Program(p))
	}
	return ps
}

// buildInto fetches, builds and writes the manifest into dir.
func buildInto(ctx context.Context, dir, goVersion string) (*Suite, error) {
	// Outside any module (os.TempDir), so no go.mod or go.sum is touched.
	out, err := goOutput(ctx, "", "mod", "download", "-json", ToolsModule+"@"+ToolsVersion)
	var dl struct{ Dir, Error string }
	if jerr := json.Unmarshal([]byte(out), &dl); jerr == nil && dl.Error != "" {
		return nil, fmt.Errorf("go mod download %s@%s: %s", ToolsModule, ToolsVersion, dl.Error)
	}
	if err != nil {
		return nil, err
	}
	if dl.Dir == "" {
		return nil, fmt.Errorf("go mod download %s@%s: no Dir in %q", ToolsModule, ToolsVersion, out)
	}
	src := filepath.Join(dir, "src")
	if err := copyTree(dl.Dir, src); err != nil {
		return nil, fmt.Errorf("copying %s out of the module cache: %w", dl.Dir, err)
	}
	// The stub vendor/ (modules.txt only) makes go build use -mod=vendor
	// and fail; without it the module's go.sum resolves its dependencies.
	if err := os.RemoveAll(filepath.Join(src, "vendor")); err != nil {
		return nil, err
	}
	version, _ := os.ReadFile(filepath.Join(src, "VERSION"))
	commit := ToolsVersion[strings.LastIndex(ToolsVersion, "-")+1:]
	// As the Makefile's runtimetest target (STATIC_BUILD_FLAGS), with cgo off.
	if _, err := goOutput(ctx, src, "build", "-trimpath", "-tags", "netgo osusergo",
		"-ldflags", fmt.Sprintf("-X main.gitCommit=%s -X main.version=%s", commit, strings.TrimSpace(string(version))),
		"-o", filepath.Join(dir, runtimetestName), "./cmd/runtimetest"); err != nil {
		return nil, err
	}
	if err := checkStatic(filepath.Join(dir, runtimetestName)); err != nil {
		return nil, err
	}
	// As the Makefile's validation-executables target (every validation/*/
	// main package), in one go build: -o <dir>/ names each after its directory.
	bin := filepath.Join(dir, suiteBin)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	if _, err := goOutput(ctx, src, "build", "-trimpath", "-o", bin+"/", "./validation/..."); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(bin)
	if err != nil {
		return nil, err
	}
	s := &Suite{Module: ToolsModule, Version: ToolsVersion, Go: goVersion}
	for _, e := range entries {
		s.Programs = append(s.Programs, e.Name())
	}
	sort.Strings(s.Programs)
	if len(s.Programs) == 0 {
		return nil, errors.New("go build ./validation/... produced no programs")
	}
	if err := os.RemoveAll(src); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, suiteManifest), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// goOutput runs the go command in dir (a temporary directory outside any
// module when dir is "") with cgo off, module mode forced on, no workspace
// and the local toolchain, and returns its stdout. Errors carry stderr.
func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	if dir == "" {
		dir = os.TempDir()
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GO111MODULE=on")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("go %s (in %s): %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// copyTree copies the regular files, directories and symlinks under from to
// to, making everything writable by its owner (the module cache is
// read-only).
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(path, dst, info.Mode().Perm()|0o200)
		}
		return nil
	})
}

func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // read-only
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close() // the copy error is what matters
		return err
	}
	return out.Close()
}

// checkStatic fails unless path is an ELF executable without an
// interpreter (PT_INTERP), i.e. one that runs in a rootfs without libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read-only
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has PT_INTERP)", path)
		}
	}
	return nil
}
