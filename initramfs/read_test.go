package initramfs_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/hullvm/hull/initramfs"
	"github.com/hullvm/hull/internal/testtier"
)

// normalized is files as Write stores them: sorted, parents added, empty
// Data as nil.
func normalized(files []initramfs.File) []initramfs.File {
	byPath := map[string]initramfs.File{}
	for _, f := range files {
		if len(f.Data) == 0 {
			f.Data = nil
		}
		byPath[f.Path] = f
		for d := filepath.Dir(f.Path); d != "."; d = filepath.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = initramfs.File{Path: d, Mode: os.ModeDir | 0o755}
			}
		}
	}
	var out []initramfs.File
	for _, f := range byPath {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b initramfs.File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func equalFiles(t *testing.T, got, want []initramfs.File) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d files, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Path != w.Path || g.Mode != w.Mode || !bytes.Equal(g.Data, w.Data) || g.Major != w.Major || g.Minor != w.Minor {
			t.Errorf("file %d: %s %v %d bytes %d,%d; want %s %v %d bytes %d,%d",
				i, g.Path, g.Mode, len(g.Data), g.Major, g.Minor, w.Path, w.Mode, len(w.Data), w.Major, w.Minor)
		}
	}
}

func TestReadRoundTrip(t *testing.T) {
	files := append(sample(), initramfs.File{Path: "fifo", Mode: os.ModeNamedPipe | 0o600},
		initramfs.File{Path: "setgid", Mode: os.ModeSetgid | 0o755, Data: []byte("x")})
	for _, gz := range []bool{false, true} {
		got, err := initramfs.Read(bytes.NewReader(write(t, files, initramfs.Options{Gzip: gz})))
		if err != nil {
			t.Fatalf("gzip=%v: Read: %v", gz, err)
		}
		equalFiles(t, got, normalized(files))
		// and back: Write(Read(a)) == a
		if again := write(t, got, initramfs.Options{Gzip: gz}); !bytes.Equal(again, write(t, files, initramfs.Options{Gzip: gz})) {
			t.Errorf("gzip=%v: Write(Read(archive)) differs from archive", gz)
		}
	}
}

// TestReadURoot: an archive from u-root's writer, with the root entry "."
// that WriteRecordsAndDirs adds.
func TestReadURoot(t *testing.T) {
	var b bytes.Buffer
	w := cpio.Newc.Writer(&b)
	recs := []cpio.Record{
		cpio.Directory("bbin", 0o755),
		cpio.StaticFile("bbin/bb", "\x7fELF", 0o755),
		cpio.Symlink("bbin/ls", "bb"),
		cpio.CharDev("dev/console", 0o600, 5, 1),
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	got, err := initramfs.Read(&b)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	equalFiles(t, got, []initramfs.File{
		{Path: "bbin", Mode: os.ModeDir | 0o755},
		{Path: "bbin/bb", Mode: 0o755, Data: []byte("\x7fELF")},
		{Path: "bbin/ls", Mode: os.ModeSymlink | 0o777, Data: []byte("bb")},
		{Path: "dev", Mode: os.ModeDir | 0o777}, // as u-root adds parents
		{Path: "dev/console", Mode: os.ModeDevice | os.ModeCharDevice | 0o600, Major: 5, Minor: 1},
	})
}

// TestReadGNUCpio: an archive written by an independent writer.
func TestReadGNUCpio(t *testing.T) {
	cpioBin := testtier.RequireTool(t, "cpio")
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc/sub"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "etc/hostname"), []byte("hull\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "init"), bytes.Repeat([]byte("ELF"), 999), 0o755))
	must(os.Symlink("init", filepath.Join(dir, "sbin-init")))
	must(os.Chmod(filepath.Join(dir, "etc"), 0o750)) // beat the umask
	must(os.Chmod(filepath.Join(dir, "etc/sub"), 0o750))
	cmd := exec.Command(cpioBin, "-o", "-H", "newc", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("etc\netc/hostname\netc/sub\ninit\nsbin-init\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -o: %v", err)
	}
	got, err := initramfs.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	equalFiles(t, got, []initramfs.File{
		{Path: "etc", Mode: os.ModeDir | 0o750},
		{Path: "etc/hostname", Mode: 0o644, Data: []byte("hull\n")},
		{Path: "etc/sub", Mode: os.ModeDir | 0o750},
		{Path: "init", Mode: 0o755, Data: bytes.Repeat([]byte("ELF"), 999)},
		{Path: "sbin-init", Mode: os.ModeSymlink | 0o777, Data: []byte("init")},
	})
}

func TestReadRejects(t *testing.T) {
	good := write(t, initramfs.Minimal([]byte("init")), initramfs.Options{})
	hardlink := write(t, []initramfs.File{{Path: "f", Mode: 0o644, Data: []byte("x")}}, initramfs.Options{})
	copy(hardlink[6+8*4:], "00000002") // nlink of the first entry
	for name, data := range map[string][]byte{
		"empty":            nil,
		"truncated header": good[:50],
		"no trailer":       good[:len(good)/2],
		"bad magic":        append([]byte("070707"), good[6:]...),
		"not hex":          append([]byte("070701zz"), good[8:]...),
		"second archive":   append(slices.Clone(good), good...),
		"hard link":        hardlink,
		"gzip garbage":     {0x1f, 0x8b, 0, 1, 2},
	} {
		if _, err := initramfs.Read(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: Read accepted it", name)
		} else if name != "gzip garbage" && !errors.Is(err, initramfs.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// zero padding after the trailer is fine (the kernel skips it)
	if _, err := initramfs.Read(bytes.NewReader(append(slices.Clone(good), make([]byte, 512)...))); err != nil {
		t.Errorf("zero padding after the trailer: %v", err)
	}
}

// FuzzRead: no input panics Read; what it accepts, Write writes and Read
// reads back the same.
func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	if err := initramfs.Write(&b, sample(), initramfs.Options{}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:200])
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := initramfs.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := initramfs.Write(&out, files, initramfs.Options{}); err != nil {
			t.Fatalf("Read accepted what Write rejects: %v", err)
		}
		again, err := initramfs.Read(&out)
		if err != nil {
			t.Fatalf("reading Write's output: %v", err)
		}
		if len(again) < len(files) {
			t.Fatalf("%d files, then %d", len(files), len(again))
		}
	})
}
