package guestimage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hullvm/hull/initramfs"
	"github.com/hullvm/hull/internal/atomicfile"
)

// Module is hull's module path; Build looks for its go.mod.
const Module = "github.com/hullvm/hull"

// imageFormat and busyboxFormat change whenever the way an image or the
// busybox is put together changes (build flags, layout), so that older
// cached ones are not reused.
const (
	imageFormat   = "hull-image/1 agent:-trimpath,-buildvcs=false,-ldflags=-s -w initrd:raw"
	busyboxFormat = "hull-busybox/1 -base=/dev/null -initcmd= -uinitcmd= -tags=" + busyboxTags + " -defaultsh="
)

// buildEnv is the target of every Go build here: the guest.
var buildEnv = []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}

// busyboxTags selects gosh's plain line reader: its default editor
// (bubbline) asks the terminal for colours and the cursor position and
// waits for answers a serial console piped to a file or test never gives.
// It also makes the busybox 1.1 MiB smaller (4.4 MiB).
const busyboxTags = "goshsmall"

// Options for Build.
type Options struct {
	// SourceDir is hull's module root; "" searches upward from the working
	// directory.
	SourceDir string
	// CacheDir; "" is CacheDir().
	CacheDir string
	// Rebuild builds the busybox and the initramfs again even if cached
	// (the kernel is guest/build-kernel.sh's: delete its cache directory).
	Rebuild bool
	// Progress gets one line per step and a heartbeat on the long ones;
	// nil discards them.
	Progress io.Writer
}

// Image is a built guest image.
type Image struct {
	Dir    string
	Kernel string // ELF vmlinux
	// Initrd is an uncompressed newc initramfs: the kernel unpacks it in
	// 72 ms instead of 164-187 ms gzip-compressed (QEMU TCG, 7.5 MiB),
	// and a VMM copies the 4.5 MiB more in a few ms.
	Initrd     string
	KernelSize int64
	InitrdSize int64
	Key        string
	Cached     bool          // found in the cache: nothing was built
	Took       time.Duration // the whole Build call
	Info       Info
}

// Info is image.json: what went into an image and what building it cost.
type Info struct {
	Key        string             `json:"key"`
	KernelKey  string             `json:"kernel_key"`
	AgentHash  string             `json:"agent_hash"`
	BusyboxKey string             `json:"busybox_key"`
	GoVersion  string             `json:"go_version"`
	Commands   []string           `json:"commands"`
	Entries    int                `json:"initrd_entries"`
	AgentSize  int64              `json:"agent_bytes"`
	Steps      map[string]float64 `json:"step_seconds"`
}

// Build builds the default guest image, or finds it in the cache, and
// makes it the one Default returns.
func Build(ctx context.Context, opts Options) (*Image, error) {
	t0 := time.Now()
	b := &builder{ctx: ctx, opts: opts, steps: map[string]float64{}}
	if b.opts.Progress == nil {
		b.opts.Progress = io.Discard
	}
	img, err := b.build()
	if err != nil {
		return nil, err
	}
	img.Took = time.Since(t0)
	return img, nil
}

type builder struct {
	ctx   context.Context
	opts  Options
	src   string // module root
	cache string
	goBin string
	steps map[string]float64
}

func (b *builder) logf(format string, args ...any) {
	fmt.Fprintf(b.opts.Progress, "image: "+format+"\n", args...)
}

// step runs f as a named step and records how long it took.
func (b *builder) step(name string, f func() error) error {
	t := time.Now()
	err := f()
	b.steps[name] = time.Since(t).Seconds()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (b *builder) build() (*Image, error) {
	var err error
	if b.src, err = findSource(b.opts.SourceDir); err != nil {
		return nil, err
	}
	if b.cache = b.opts.CacheDir; b.cache == "" {
		if b.cache, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	if b.goBin, err = exec.LookPath("go"); err != nil {
		return nil, fmt.Errorf("building the guest image needs a Go toolchain: %w", err)
	}
	if err := os.MkdirAll(b.cache, 0o755); err != nil {
		return nil, err
	}

	var kernel string
	if err := b.step("kernel", func() (err error) { kernel, err = b.kernel(); return err }); err != nil {
		return nil, err
	}
	info := Info{KernelKey: filepath.Base(filepath.Dir(kernel)), Commands: Commands}
	err = b.step("keys", func() (err error) {
		if info.GoVersion, err = b.goOutput("env", "GOVERSION"); err != nil {
			return err
		}
		if info.AgentHash, err = b.agentHash(); err != nil {
			return err
		}
		info.BusyboxKey, err = b.busyboxKey(info.GoVersion)
		return err
	})
	if err != nil {
		return nil, err
	}
	info.Key = hashStrings(imageFormat, info.KernelKey, info.AgentHash, info.BusyboxKey)
	dir := filepath.Join(b.cache, "image-"+info.Key)
	if !b.opts.Rebuild {
		if img, err := load(dir); err == nil {
			b.logf("cached: %s", dir)
			img.Cached = true
			touch(dir) // recently used: prune keeps it
			return img, setDefault(b.cache, dir)
		}
	}

	tmp, err := os.MkdirTemp(b.cache, ".image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // after the rename below only on failure

	var bb []initramfs.File
	if err := b.step("busybox", func() (err error) { bb, err = b.busybox(info.BusyboxKey); return err }); err != nil {
		return nil, err
	}
	var agentBin []byte
	if err := b.step("agent", func() (err error) { agentBin, err = b.agent(tmp); return err }); err != nil {
		return nil, err
	}
	info.AgentSize = int64(len(agentBin))
	err = b.step("initramfs", func() error {
		files, err := assemble(agentBin, bb)
		if err != nil {
			return err
		}
		info.Entries = len(files)
		return atomicfile.Write(filepath.Join(tmp, initrdName), func(w io.Writer) error {
			return initramfs.Write(w, files, initramfs.Options{})
		})
	})
	if err != nil {
		return nil, err
	}
	if err := linkOrCopy(kernel, filepath.Join(tmp, kernelName)); err != nil {
		return nil, err
	}
	info.Steps = b.steps
	j, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, infoName), append(j, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := replaceDir(tmp, dir); err != nil {
		return nil, err
	}
	if err := setDefault(b.cache, dir); err != nil {
		return nil, err
	}
	touch(filepath.Join(b.cache, "uroot-"+info.BusyboxKey))
	prune(b.cache, "image-", dir, keepImages)
	prune(b.cache, "uroot-", filepath.Join(b.cache, "uroot-"+info.BusyboxKey), keepBusyboxes)
	return load(dir)
}

// How many images and busyboxes the cache keeps, the most recently built
// or used ones: each agent change makes a new image (6-8 MiB).
const (
	keepImages    = 3
	keepBusyboxes = 2
)

// prune removes all but the keep most recently modified prefix* entries of
// cache, never current. Failures are ignored: the cache only grows.
func prune(cache, prefix, current string, keep int) {
	dirs, _ := filepath.Glob(filepath.Join(cache, prefix+"*"))
	type entry struct {
		path string
		mod  time.Time
	}
	var old []entry
	for _, d := range dirs {
		st, err := os.Lstat(d)
		if err != nil || !st.IsDir() || d == current {
			continue
		}
		old = append(old, entry{d, st.ModTime()})
	}
	slices.SortFunc(old, func(a, b entry) int { return b.mod.Compare(a.mod) })
	for i, e := range old {
		if i >= keep-1 { // current is one of the kept
			_ = os.RemoveAll(e.path)
		}
	}
}

// touch marks dir as used now, for prune.
func touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
}

// kernel runs guest/build-kernel.sh (with --install as root) and returns
// the vmlinux path it prints.
func (b *builder) kernel() (string, error) {
	script := filepath.Join(b.src, "guest", "build-kernel.sh")
	args := []string{}
	if os.Geteuid() == 0 {
		args = append(args, "--install")
	}
	if p, err := b.run(script, "--print"); err == nil {
		if _, err := os.Stat(p); err == nil {
			b.logf("kernel: cached %s", p)
			return p, nil
		}
	}
	b.logf("kernel: building with guest/build-kernel.sh (about 7 minutes on 2 cores; its progress follows)")
	cmd := exec.CommandContext(b.ctx, script, args...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), EnvCache+"="+b.cache)
	cmd.Stderr = b.opts.Progress
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("guest/build-kernel.sh: %w", err)
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("guest/build-kernel.sh printed %q: %w", p, err)
	}
	return p, nil
}

// run runs a command in the source tree and returns its trimmed stdout;
// the error holds its stderr.
func (b *builder) run(name string, args ...string) (string, error) {
	cmd := exec.CommandContext(b.ctx, name, args...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), buildEnv...)
	cmd.Env = append(cmd.Env, EnvCache+"="+b.cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, clip(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func (b *builder) goOutput(args ...string) (string, error) { return b.run(b.goBin, args...) }

// agentHash hashes what hull-agent is built from: the files of every
// package of this module it imports (content and name) and the module
// versions of the others; the standard library comes with the Go version,
// which busyboxKey and the image key include.
func (b *builder) agentHash() (string, error) {
	const tmpl = `{{if .Standard}}{{else if and .Module .Module.Main}}main {{.ImportPath}}` +
		`{{"\t"}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}} {{join .SFiles " "}} {{join .EmbedFiles " "}}` +
		`{{else if .Module}}mod {{.Module.Path}} {{.Module.Version}}{{with .Module.Replace}} => {{.Path}} {{.Version}}{{end}}` +
		`{{else}}other {{.ImportPath}}{{end}}`
	out, err := b.goOutput("list", "-deps", "-f", tmpl, "./cmd/hull-agent")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fmt.Fprintln(h, line)
		if !strings.HasPrefix(line, "main ") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			return "", fmt.Errorf("go list: unexpected line %q", line)
		}
		for _, f := range strings.Fields(parts[2]) {
			data, err := os.ReadFile(filepath.Join(parts[1], f))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %d\n", f, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// busyboxKey hashes what the busybox is built from: the command list and
// the versions of the modules the commands use, the Go version and the
// build's format.
func (b *builder) busyboxKey(goVersion string) (string, error) {
	out, err := b.goOutput(append([]string{"list", "-deps", "-f",
		`{{with .Module}}{{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}{{end}}`},
		commandPackages()...)...)
	if err != nil {
		return "", fmt.Errorf("%w\n(is every command of guestimage.Commands imported by guestimage/tools.go, and go.mod tidy?)", err)
	}
	mods := slices.Compact(slices.Sorted(strings.Lines(out)))
	return hashStrings(append([]string{busyboxFormat, goVersion, Shell, strings.Join(Commands, " ")}, mods...)...), nil
}

func commandPackages() []string {
	pkgs := make([]string, len(Commands))
	for i, c := range Commands {
		pkgs[i] = URootCommands + c
	}
	return pkgs
}

// busybox returns the entries of the u-root busybox archive, building it
// with `go tool u-root` unless cached under uroot-<key>/.
func (b *builder) busybox(key string) ([]initramfs.File, error) {
	dir := filepath.Join(b.cache, "uroot-"+key)
	archive := filepath.Join(dir, "bb.cpio")
	if !b.opts.Rebuild {
		if files, err := readArchive(archive); err == nil {
			b.logf("busybox: cached %s", archive)
			touch(dir)
			return files, nil
		}
	}
	b.logf("busybox: building %d u-root commands with go tool u-root (20-60 s)", len(Commands))
	tmp, err := os.MkdirTemp(b.cache, ".uroot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"tool", "u-root", "-o", filepath.Join(tmp, "bb.cpio"), "-base=/dev/null",
		"-initcmd=", "-uinitcmd=", "-tags=" + busyboxTags, "-defaultsh=" + Shell}, commandPackages()...)
	cmd := exec.CommandContext(b.ctx, b.goBin, args...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), buildEnv...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	t := time.Now()
	if err := b.heartbeat("busybox", cmd.Run); err != nil {
		return nil, fmt.Errorf("go tool u-root: %w\n%s", err, clip(log.String()))
	}
	files, err := readArchive(filepath.Join(tmp, "bb.cpio"))
	if err != nil {
		return nil, fmt.Errorf("reading u-root's archive: %w", err)
	}
	if !slices.ContainsFunc(files, func(f initramfs.File) bool { return f.Path == "bbin/bb" }) {
		return nil, fmt.Errorf("u-root's archive has no bbin/bb\n%s", clip(log.String()))
	}
	if err := replaceDir(tmp, dir); err != nil {
		return nil, err
	}
	b.logf("busybox: built in %.1f s", time.Since(t).Seconds())
	return files, nil
}

// heartbeat runs f and prints a line every 15 s while it runs.
func (b *builder) heartbeat(what string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.Now()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			b.logf("%s: still building (%.0f s)", what, time.Since(t).Seconds())
		}
	}
}

// agent builds hull-agent, static, into dir and returns the binary.
func (b *builder) agent(dir string) ([]byte, error) {
	out := filepath.Join(dir, "hull-agent")
	if _, err := b.goOutput("build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./cmd/hull-agent"); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	b.logf("agent: built hull-agent (%s)", mib(int64(len(bin))))
	return bin, os.Remove(out)
}

// assemble is the default image's file list: hull-agent as /init with the
// nodes and mount points of initramfs.Minimal, plus the busybox entries
// (bbin/, bin/sh, ...). Where both have a path, ours wins.
func assemble(agent []byte, busybox []initramfs.File) ([]initramfs.File, error) {
	if len(agent) < 4 || string(agent[:4]) != "\x7fELF" {
		return nil, errors.New("hull-agent is not an ELF binary")
	}
	files := initramfs.Minimal(agent)
	ours := map[string]bool{}
	for _, f := range files {
		ours[f.Path] = true
	}
	for _, f := range busybox {
		if !ours[f.Path] {
			files = append(files, f)
		}
	}
	return files, nil
}

// load returns the image in dir if it is complete.
func load(dir string) (*Image, error) {
	img := &Image{Dir: dir, Kernel: filepath.Join(dir, kernelName), Initrd: filepath.Join(dir, initrdName),
		Key: strings.TrimPrefix(filepath.Base(dir), "image-")}
	for _, f := range []struct {
		path string
		size *int64
	}{{img.Kernel, &img.KernelSize}, {img.Initrd, &img.InitrdSize}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return nil, err
		}
		*f.size = st.Size()
	}
	j, err := os.ReadFile(filepath.Join(dir, infoName))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(j, &img.Info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, infoName), err)
	}
	return img, nil
}

func readArchive(path string) ([]initramfs.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return initramfs.Read(bufio.NewReader(f))
}

// findSource returns dir, or the first directory upward from the working
// directory whose go.mod declares Module.
func findSource(dir string) (string, error) {
	if dir != "" {
		if !isModuleRoot(dir) {
			return "", fmt.Errorf("%s is not hull's source tree (no go.mod for %s)", dir, Module)
		}
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isModuleRoot(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("building the guest image needs hull's source tree: run it inside it (no go.mod for %s above %s)", Module, wd)
		}
	}
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == Module
		}
	}
	return false
}

// linkOrCopy hard-links src to dst (the cache is one file system), else
// copies it.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
}

// replaceDir renames tmp to dir, replacing an older dir.
func replaceDir(tmp, dir string) error {
	if err := os.Rename(tmp, dir); err == nil {
		return nil
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	defer os.RemoveAll(old)
	return os.Rename(tmp, dir)
}

func hashStrings(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func clip(s string) string {
	const keep = 3000
	if len(s) > keep {
		return "...\n" + s[len(s)-keep:]
	}
	return s
}
