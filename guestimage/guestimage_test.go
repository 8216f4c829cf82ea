package guestimage

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/hullvm/hull/initramfs"
)

// TestToolsGoImportsCommands: go.mod records a command's dependencies only
// if tools.go imports it; without them the busybox build fails.
func TestToolsGoImportsCommands(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "tools.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		c, ok := strings.CutPrefix(p, URootCommands)
		if !ok {
			t.Errorf("tools.go imports %s, not a u-root core command", p)
		}
		imported = append(imported, c)
	}
	slices.Sort(imported)
	want := slices.Sorted(slices.Values(Commands))
	if !slices.Equal(imported, want) {
		t.Errorf("tools.go imports %q\nCommands are     %q", imported, want)
	}
	if !slices.Contains(Commands, Shell) {
		t.Errorf("the shell %q is not among Commands", Shell)
	}
}

// fakeBusybox is what u-root's archive looks like: bbin/bb, a symlink per
// command, bin/sh; plus entries that collide with ours.
func fakeBusybox() []initramfs.File {
	files := []initramfs.File{
		{Path: "bbin", Mode: os.ModeDir | 0o755},
		{Path: "bbin/bb", Mode: 0o755, Data: []byte("\x7fELF busybox")},
		{Path: "bin", Mode: os.ModeDir | 0o755},
		{Path: "bin/sh", Mode: os.ModeSymlink | 0o777, Data: []byte("../bbin/gosh")},
		{Path: "init", Mode: os.ModeSymlink | 0o777, Data: []byte("bbin/init")}, // must lose to ours
		{Path: "tmp", Mode: os.ModeDir | 0o755},                                 // must lose to ours
	}
	for _, c := range Commands {
		files = append(files, initramfs.File{Path: "bbin/" + c, Mode: os.ModeSymlink | 0o777, Data: []byte("bb")})
	}
	return files
}

var fakeAgent = []byte("\x7fELF hull-agent")

func assembleBytes(t *testing.T, bb []initramfs.File) []byte {
	t.Helper()
	files, err := assemble(fakeAgent, bb)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := initramfs.Write(&b, files, initramfs.Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAssembleRoundTrip: the image's archive read three ways (our reader,
// u-root's, GNU cpio) lists the same entries; the agent is /init; two
// builds from the same inputs, in any order, are byte-identical.
func TestAssembleRoundTrip(t *testing.T) {
	archive := assembleBytes(t, fakeBusybox())
	bb := fakeBusybox()
	slices.Reverse(bb)
	if again := assembleBytes(t, bb); !bytes.Equal(archive, again) {
		t.Error("two builds of the same inputs differ")
	}
	ours := checkArchive(t, archive)
	if init := ours["init"]; init.Mode != 0o755 || !bytes.Equal(init.Data, fakeAgent) {
		t.Errorf("/init is %v with %q, want the agent (0755)", init.Mode, init.Data)
	}
	if tmp := ours["tmp"]; tmp.Mode != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("/tmp is %v, want initramfs.Minimal's 1777", tmp.Mode)
	}
	for _, p := range []string{"bbin/bb", "bin/sh", "bbin/gosh", "dev/console", "dev/null", "proc", "sys"} {
		if _, ok := ours[p]; !ok {
			t.Errorf("no %s", p)
		}
	}
	if _, err := assemble([]byte("#!/bin/sh"), nil); err == nil {
		t.Error("assemble took a non-ELF agent")
	}
}

// checkArchive reads archive with initramfs.Read, u-root's reader and
// `cpio -t` (when installed), fails t unless all three list the same
// names, and returns our reader's entries by path.
func checkArchive(t *testing.T, archive []byte) map[string]initramfs.File {
	t.Helper()
	files, err := initramfs.Read(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("initramfs.Read: %v", err)
	}
	byPath := map[string]initramfs.File{}
	var ours []string
	for _, f := range files {
		byPath[f.Path] = f
		ours = append(ours, f.Path)
	}
	recs, err := cpio.ReadAllRecords(cpio.EOFReader{RecordReader: cpio.Newc.Reader(bytes.NewReader(archive))})
	if err != nil {
		t.Fatalf("u-root's reader: %v", err)
	}
	var uroot []string
	for _, r := range recs {
		uroot = append(uroot, r.Name)
		f := byPath[r.Name]
		if r.FileSize != uint64(len(f.Data)) {
			t.Errorf("%s: u-root reads %d bytes, we read %d", r.Name, r.FileSize, len(f.Data))
		}
	}
	if !slices.Equal(ours, uroot) {
		t.Errorf("initramfs.Read lists\n%q\nu-root's reader lists\n%q", ours, uroot)
	}
	if cpioBin, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command(cpioBin, "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(archive)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		if gnu := strings.Fields(string(out)); !slices.Equal(ours, gnu) {
			t.Errorf("initramfs.Read lists\n%q\ncpio -t lists\n%q", ours, gnu)
		}
	} else {
		t.Logf("no cpio(1) here: checked against u-root's reader only")
	}
	return byPath
}

// TestDefaultImage checks the image `hull image build` made last, if any:
// three readers agree, /init is a static ELF, the busybox and shell are there.
func TestDefaultImage(t *testing.T) {
	_, initrd, err := Default()
	if errors.Is(err, ErrNoImage) {
		t.Skipf("no default image to check: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	archive, err := os.ReadFile(initrd)
	if err != nil {
		t.Fatal(err)
	}
	files := checkArchive(t, archive)
	if init := files["init"]; !bytes.HasPrefix(init.Data, []byte("\x7fELF")) || init.Mode != 0o755 {
		t.Errorf("/init: %v, %d bytes; want a 0755 ELF binary", init.Mode, len(init.Data))
	}
	for _, c := range Commands {
		if f := files["bbin/"+c]; string(f.Data) != "bb" {
			t.Errorf("bbin/%s: %v -> %q, want a symlink to bb", c, f.Mode, f.Data)
		}
	}
	if sh := files["bin/sh"]; string(sh.Data) != "../bbin/"+Shell {
		t.Errorf("bin/sh -> %q, want ../bbin/%s", sh.Data, Shell)
	}
}

func TestDefault(t *testing.T) {
	cache := t.TempDir()
	if _, _, err := defaultIn(cache); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "hull image build") {
		t.Fatalf("empty cache: %v, want ErrNoImage saying how to build one", err)
	}
	dir := filepath.Join(cache, "image-0123")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := setDefault(cache, dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := defaultIn(cache); !errors.Is(err, ErrNoImage) {
		t.Fatalf("image without files: %v, want ErrNoImage", err)
	}
	for _, n := range []string{kernelName, initrdName} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	k, i, err := defaultIn(cache)
	if err != nil || k != filepath.Join(dir, kernelName) || i != filepath.Join(dir, initrdName) {
		t.Fatalf("defaultIn = %q, %q, %v", k, i, err)
	}
	// repointing is atomic and leaves no temp link behind
	dir2 := filepath.Join(cache, "image-4567")
	if err := os.Mkdir(dir2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := setDefault(cache, dir2); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(cache, defaultLink)); err != nil || target != "image-4567" {
		t.Errorf("image-default -> %q (%v), want image-4567", target, err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 3 {
		t.Errorf("cache holds %d entries, want 3 (two images and the link)", len(entries))
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv(EnvCache, "/somewhere")
	if d, err := CacheDir(); err != nil || d != "/somewhere" {
		t.Errorf("CacheDir with %s set = %q, %v", EnvCache, d, err)
	}
	t.Setenv(EnvCache, "")
	t.Setenv("HOME", "/home/x")
	if d, err := CacheDir(); err != nil || d != "/home/x/.cache/hull" {
		t.Errorf("CacheDir = %q, %v; want ~/.cache/hull as guest/build-kernel.sh", d, err)
	}
}

func TestFindSource(t *testing.T) {
	root, err := findSource("")
	if err != nil {
		t.Fatalf("from the package directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "guest", "build-kernel.sh")); err != nil {
		t.Errorf("found %s, which has no guest/build-kernel.sh", root)
	}
	if _, err := findSource(t.TempDir()); err == nil {
		t.Error("an empty directory passed as hull's source tree")
	}
}

func TestPrune(t *testing.T) {
	cache := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i, name := range []string{"image-a", "image-b", "image-c", "image-d", "image-e", "uroot-x"} {
		d := filepath.Join(cache, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute) // a oldest, e newest
		if err := os.Chtimes(d, at, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("image-a", filepath.Join(cache, "image-default")); err != nil {
		t.Fatal(err)
	}
	prune(cache, "image-", filepath.Join(cache, "image-a"), 3) // current: the oldest
	var left []string
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"image-a", "image-d", "image-default", "image-e", "uroot-x"}; !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}
