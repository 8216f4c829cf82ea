package initramfs_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/hullvm/hull/initramfs"
	"github.com/hullvm/hull/internal/testtier"
)

// sample is Minimal plus entries that exercise sorting, parent creation,
// symlinks and a block device; deliberately out of order.
func sample() []initramfs.File {
	files := []initramfs.File{
		{Path: "usr/lib/x/data.bin", Mode: 0o644, Data: bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)},
		{Path: "bin/sh", Mode: os.ModeSymlink | 0o777, Data: []byte("../init")},
		{Path: "dev/vda", Mode: os.ModeDevice | 0o660, Major: 254, Minor: 0},
		{Path: "etc/hostname", Mode: 0o644, Data: []byte("hull\n")},
		{Path: "etc", Mode: os.ModeDir | 0o750},
		{Path: "empty", Mode: 0o600},
		{Path: "usr/bin/setuid", Mode: os.ModeSetuid | 0o755, Data: []byte{0x7f, 'E', 'L', 'F'}},
	}
	return append(files, initramfs.Minimal([]byte("\x7fELF static init"))...)
}

// wantNames is sample()'s paths plus the parents Write adds, sorted.
var wantNames = []string{
	"bin", "bin/sh", "dev", "dev/console", "dev/null", "dev/vda", "empty", "etc", "etc/hostname",
	"init", "proc", "sys", "tmp", "usr", "usr/bin", "usr/bin/setuid", "usr/lib", "usr/lib/x",
	"usr/lib/x/data.bin",
}

func write(t *testing.T, files []initramfs.File, opts initramfs.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := initramfs.Write(&b, files, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes()
}

func readAll(t *testing.T, archive []byte) []cpio.Record {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.EOFReader{RecordReader: cpio.Newc.Reader(bytes.NewReader(archive))})
	if err != nil {
		t.Fatalf("reading the archive back: %v", err)
	}
	return recs
}

func TestRoundTrip(t *testing.T) {
	archive := write(t, sample(), initramfs.Options{})
	if !bytes.HasPrefix(archive, []byte("070701")) {
		t.Fatalf("archive starts with %q, want the newc magic 070701", archive[:6])
	}
	recs := readAll(t, archive)
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("names:\n%q\nwant:\n%q", names, wantNames)
	}

	byName := map[string]cpio.Record{}
	inos := map[uint64]string{}
	for _, r := range recs {
		byName[r.Name] = r
		if r.MTime != 0 || r.UID != 0 || r.GID != 0 {
			t.Errorf("%s: mtime %d uid %d gid %d, want all 0", r.Name, r.MTime, r.UID, r.GID)
		}
		if other, dup := inos[r.Ino]; dup || r.Ino == 0 {
			t.Errorf("%s: inode %d (also %q)", r.Name, r.Ino, other)
		}
		inos[r.Ino] = r.Name
	}
	for _, f := range sample() {
		r := byName[f.Path]
		if got, want := r.Mode, unixMode(f.Mode); got != want {
			t.Errorf("%s: mode %#o, want %#o", f.Path, got, want)
		}
		if r.Rmajor != uint64(f.Major) || r.Rminor != uint64(f.Minor) {
			t.Errorf("%s: device %d,%d, want %d,%d", f.Path, r.Rmajor, r.Rminor, f.Major, f.Minor)
		}
		var data []byte
		if r.ReaderAt != nil {
			var err error
			if data, err = io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize))); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
		}
		if !bytes.Equal(data, f.Data) {
			t.Errorf("%s: %d bytes of data, want %d", f.Path, len(data), len(f.Data))
		}
	}
	for _, parent := range []string{"bin", "usr", "usr/bin", "usr/lib", "usr/lib/x"} {
		if got := byName[parent].Mode; got != cpio.S_IFDIR|0o755 {
			t.Errorf("added parent %s: mode %#o, want %#o", parent, got, cpio.S_IFDIR|0o755)
		}
	}
	if got := byName["etc"].Mode; got != cpio.S_IFDIR|0o750 {
		t.Errorf("explicit directory etc: mode %#o, want it kept as %#o", got, cpio.S_IFDIR|0o750)
	}
}

// unixMode spells out the st_mode each sample entry must get.
func unixMode(m os.FileMode) uint64 {
	var typ uint64
	switch {
	case m.IsDir():
		typ = cpio.S_IFDIR
	case m&os.ModeSymlink != 0:
		typ = cpio.S_IFLNK
	case m&os.ModeCharDevice != 0:
		typ = cpio.S_IFCHR
	case m&os.ModeDevice != 0:
		typ = cpio.S_IFBLK
	default:
		typ = cpio.S_IFREG
	}
	extra := uint64(0)
	if m&os.ModeSetuid != 0 {
		extra |= cpio.S_ISUID
	}
	if m&os.ModeSticky != 0 {
		extra |= cpio.S_ISVTX
	}
	return typ | extra | uint64(m.Perm())
}

func TestMinimal(t *testing.T) {
	recs := readAll(t, write(t, initramfs.Minimal([]byte("init")), initramfs.Options{}))
	want := map[string]uint64{
		"dev":         cpio.S_IFDIR | 0o755,
		"dev/console": cpio.S_IFCHR | 0o600,
		"dev/null":    cpio.S_IFCHR | 0o666,
		"init":        cpio.S_IFREG | 0o755,
		"proc":        cpio.S_IFDIR | 0o555,
		"sys":         cpio.S_IFDIR | 0o555,
		"tmp":         cpio.S_IFDIR | cpio.S_ISVTX | 0o777,
	}
	if len(recs) != len(want) {
		t.Errorf("%d entries, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		if m, ok := want[r.Name]; !ok || r.Mode != m {
			t.Errorf("%s: mode %#o, want %#o (listed: %v)", r.Name, r.Mode, m, ok)
		}
		switch r.Name {
		case "dev/console":
			if r.Rmajor != 5 || r.Rminor != 1 {
				t.Errorf("dev/console is %d,%d, want 5,1", r.Rmajor, r.Rminor)
			}
		case "dev/null":
			if r.Rmajor != 1 || r.Rminor != 3 {
				t.Errorf("dev/null is %d,%d, want 1,3", r.Rmajor, r.Rminor)
			}
		}
	}
}

func TestReproducible(t *testing.T) {
	for _, opts := range []initramfs.Options{{}, {Gzip: true}} {
		a := write(t, sample(), opts)
		files := sample()
		slices.Reverse(files) // input order must not matter
		b := write(t, files, opts)
		if !bytes.Equal(a, b) {
			t.Errorf("gzip=%v: two builds of the same files differ (%d vs %d bytes)", opts.Gzip, len(a), len(b))
		}
	}
}

func TestGzip(t *testing.T) {
	plain := write(t, sample(), initramfs.Options{})
	compressed := write(t, sample(), initramfs.Options{Gzip: true})
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header has mtime %v name %q, want neither", zr.ModTime, zr.Name)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("gzip variant decompresses to %d bytes that differ from the %d-byte plain archive", len(got), len(plain))
	}
	if len(compressed) >= len(plain) {
		t.Errorf("compressed %d bytes >= plain %d bytes", len(compressed), len(plain))
	}
}

// TestGNUCpio checks the archive with an independent reader: Debian's cpio.
func TestGNUCpio(t *testing.T) {
	cpioBin := testtier.RequireTool(t, "cpio")
	archive := write(t, sample(), initramfs.Options{})
	cmd := exec.Command(cpioBin, "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(archive)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	names := strings.Fields(string(out))
	if !slices.Equal(names, wantNames) {
		t.Errorf("cpio -t lists:\n%q\nwant:\n%q", names, wantNames)
	}

	// Extract and compare contents and the symlink target.
	dir := t.TempDir()
	cmd = exec.Command(cpioBin, "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	// Without root, device nodes cannot be made; extract the rest.
	var regular []initramfs.File
	for _, f := range sample() {
		if f.Mode&os.ModeDevice == 0 {
			regular = append(regular, f)
		}
	}
	cmd.Stdin = bytes.NewReader(write(t, regular, initramfs.Options{}))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, f := range regular {
		p := dir + "/" + f.Path
		switch {
		case f.Mode.IsRegular():
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, f.Data) {
				t.Errorf("%s: extracted %d bytes (err %v), want %d", f.Path, len(got), err, len(f.Data))
			}
		case f.Mode&os.ModeSymlink != 0:
			if got, err := os.Readlink(p); err != nil || got != string(f.Data) {
				t.Errorf("%s: link to %q (err %v), want %q", f.Path, got, err, f.Data)
			}
		}
	}
}

func TestWriteRejects(t *testing.T) {
	chr := os.ModeDevice | os.ModeCharDevice
	for _, tc := range []struct {
		name  string
		files []initramfs.File
	}{
		{"empty path", []initramfs.File{{Path: ""}}},
		{"dot", []initramfs.File{{Path: "."}}},
		{"absolute", []initramfs.File{{Path: "/init"}}},
		{"unclean", []initramfs.File{{Path: "a//b"}}},
		{"trailing slash", []initramfs.File{{Path: "dev/"}}},
		{"dotdot", []initramfs.File{{Path: "../etc/passwd"}}},
		{"inner dotdot", []initramfs.File{{Path: "a/../b"}}},
		{"trailer name", []initramfs.File{{Path: "TRAILER!!!"}}},
		{"nul", []initramfs.File{{Path: "a\x00b"}}},
		{"duplicate", []initramfs.File{{Path: "init", Mode: 0o755}, {Path: "init", Mode: 0o644}}},
		{"parent is a file", []initramfs.File{{Path: "bin", Mode: 0o755}, {Path: "bin/sh", Mode: 0o755}}},
		{"grandparent is a file", []initramfs.File{{Path: "a", Mode: 0o644}, {Path: "a/b/c", Mode: 0o644}}},
		{"data on a directory", []initramfs.File{{Path: "d", Mode: os.ModeDir | 0o755, Data: []byte("x")}}},
		{"data on a device", []initramfs.File{{Path: "c", Mode: chr | 0o600, Data: []byte("x"), Major: 1}}},
		{"device numbers on a file", []initramfs.File{{Path: "f", Mode: 0o644, Major: 1, Minor: 3}}},
		{"symlink without target", []initramfs.File{{Path: "l", Mode: os.ModeSymlink | 0o777}}},
		{"socket", []initramfs.File{{Path: "s", Mode: os.ModeSocket | 0o777}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := initramfs.Write(&b, tc.files, initramfs.Options{})
			if !errors.Is(err, initramfs.ErrInvalid) {
				t.Fatalf("Write = %v, want ErrInvalid", err)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", b.Len())
			}
		})
	}
}

type failWriter struct{ after int }

// Write accepts the first `after` bytes in all, then fails.
func (w *failWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.after)
	w.after -= n
	if n < len(p) {
		return n, errors.New("disk full")
	}
	return n, nil
}

func TestWriteErrors(t *testing.T) {
	for _, gz := range []bool{false, true} {
		size := len(write(t, sample(), initramfs.Options{Gzip: gz}))
		for _, after := range []int{0, 100, size / 2, size - 1} {
			err := initramfs.Write(&failWriter{after: after}, sample(), initramfs.Options{Gzip: gz})
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("gzip=%v, failing after %d bytes: Write = %v, want the writer's error", gz, after, err)
			}
		}
	}
}

func TestEmpty(t *testing.T) {
	recs := readAll(t, write(t, nil, initramfs.Options{}))
	if len(recs) != 0 {
		t.Errorf("%d records in an empty archive", len(recs))
	}
}
