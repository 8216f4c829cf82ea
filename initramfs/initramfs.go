package initramfs

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// File is one entry of the archive.
type File struct {
	// Path is relative to the archive root, slash-separated, clean and
	// without "." or ".." elements: "dev/console", "init".
	Path string
	// Mode holds the type bits (none for a regular file, os.ModeDir,
	// os.ModeSymlink, os.ModeDevice|os.ModeCharDevice for a character
	// device, os.ModeDevice for a block device, os.ModeNamedPipe), the
	// permission bits and os.ModeSetuid/ModeSetgid/ModeSticky.
	Mode os.FileMode
	// Data is a regular file's contents or a symlink's target; other kinds
	// must leave it empty.
	Data []byte
	// Major and Minor are a device node's numbers.
	Major, Minor uint32
}

// Options change how the archive is written.
type Options struct {
	// Gzip compresses the archive (gzip, best compression, no name or
	// timestamp in the header), as the kernel's RD_GZIP unpacks it.
	Gzip bool
}

// ErrInvalid is matched by every error about the files given to Write.
var ErrInvalid = errors.New("invalid initramfs entry")

// parentDirMode is the mode of a directory Write adds for a missing parent.
const parentDirMode = os.ModeDir | 0o755

// Minimal returns the smallest useful root file system for a static init:
// dev/ with console (c 5,1) and null (c 1,3), the mount points proc/, sys/
// and tmp/ (sticky, world-writable), and init itself (0755).
func Minimal(init []byte) []File {
	return []File{
		{Path: "dev", Mode: os.ModeDir | 0o755},
		{Path: "dev/console", Mode: os.ModeDevice | os.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Path: "dev/null", Mode: os.ModeDevice | os.ModeCharDevice | 0o666, Major: 1, Minor: 3},
		{Path: "proc", Mode: os.ModeDir | 0o555},
		{Path: "sys", Mode: os.ModeDir | 0o555},
		{Path: "tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Path: "init", Mode: 0o755, Data: init},
	}
}

// Write writes files to w as a newc cpio archive ending in the trailer
// record, gzip-compressed if opts.Gzip. Entries are sorted by path (which
// puts every directory before its contents) and each missing parent directory
// is added with mode 0755. The output depends only on files and opts.
//
// Write rejects, before writing anything, an unclean or absolute path, a
// path given twice, a parent that is not a directory, Data on a directory or
// device, and a file too large for newc (4 GiB).
func Write(w io.Writer, files []File, opts Options) error {
	recs, err := records(files)
	if err != nil {
		return err
	}
	if !opts.Gzip {
		return writeRecords(w, recs)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := writeRecords(zw, recs); err != nil {
		return err
	}
	return zw.Close()
}

func writeRecords(w io.Writer, recs []cpio.Record) error {
	rw := cpio.Newc.Writer(w)
	if err := cpio.WriteRecords(rw, recs); err != nil {
		return err
	}
	return cpio.WriteTrailer(rw)
}

// records validates files and turns them into sorted, reproducible cpio
// records, parents included.
func records(files []File) ([]cpio.Record, error) {
	byPath := make(map[string]File, len(files))
	for _, f := range files {
		if err := check(f); err != nil {
			return nil, err
		}
		if _, dup := byPath[f.Path]; dup {
			return nil, fmt.Errorf("%w: %q given twice", ErrInvalid, f.Path)
		}
		byPath[f.Path] = f
	}
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			p, ok := byPath[dir]
			if !ok {
				byPath[dir] = File{Path: dir, Mode: parentDirMode}
				continue
			}
			if !p.Mode.IsDir() {
				return nil, fmt.Errorf("%w: %q is inside %q, which is not a directory", ErrInvalid, f.Path, dir)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	// A path sorts before every path it is a prefix of, so each directory
	// comes before its contents, as the kernel's unpacker needs.
	slices.Sort(paths)
	recs := make([]cpio.Record, len(paths))
	for i, p := range paths {
		f := byPath[p]
		rec := cpio.MakeReproducible(record(f))
		// MakeReproducible leaves these alone or saturates them; set both
		// from the entry: a unique inode so no tool mistakes entries for
		// hard links, and the link count an unpacker expects.
		rec.Ino = uint64(i) + 1
		rec.NLink = 1
		if f.Mode.IsDir() {
			rec.NLink = 2
		}
		recs[i] = rec
	}
	return recs, nil
}

func check(f File) error {
	p := f.Path
	switch {
	case p == "" || p == "." || strings.HasPrefix(p, "/") || path.Clean(p) != p ||
		p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%w: path %q is not clean, relative and inside the archive", ErrInvalid, p)
	case p == cpio.Trailer:
		return fmt.Errorf("%w: path %q is the archive trailer's name", ErrInvalid, p)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%w: path %q holds a NUL byte", ErrInvalid, p)
	case len(f.Data) > 0 && !f.Mode.IsRegular() && f.Mode.Type() != fs.ModeSymlink:
		return fmt.Errorf("%w: %q: only regular files and symlinks have data (mode %v)", ErrInvalid, p, f.Mode)
	case f.Mode.Type() == fs.ModeSymlink && len(f.Data) == 0:
		return fmt.Errorf("%w: symlink %q has no target", ErrInvalid, p)
	case uint64(len(f.Data)) > math.MaxUint32:
		return fmt.Errorf("%w: %q: %d bytes is beyond newc's 4 GiB limit", ErrInvalid, p, len(f.Data))
	case f.Mode&(fs.ModeIrregular|fs.ModeSocket|fs.ModeTemporary|fs.ModeAppend|fs.ModeExclusive) != 0:
		return fmt.Errorf("%w: %q: unsupported mode %v", ErrInvalid, p, f.Mode)
	case (f.Major != 0 || f.Minor != 0) && f.Mode&(fs.ModeDevice|fs.ModeCharDevice) == 0:
		return fmt.Errorf("%w: %q: device numbers on a non-device (mode %v)", ErrInvalid, p, f.Mode)
	}
	return nil
}

// record converts f; check has accepted it.
func record(f File) cpio.Record {
	mode := unixMode(f.Mode)
	info := cpio.Info{Name: f.Path, Mode: mode, Rmajor: uint64(f.Major), Rminor: uint64(f.Minor)}
	if f.Mode.IsRegular() || f.Mode.Type() == fs.ModeSymlink {
		return cpio.StaticRecord(f.Data, info)
	}
	return cpio.Record{Info: info}
}

// unixMode converts an os.FileMode to a Unix st_mode.
func unixMode(m os.FileMode) uint64 {
	mode := uint64(m.Perm())
	switch {
	case m&fs.ModeDir != 0:
		mode |= cpio.S_IFDIR
	case m&fs.ModeSymlink != 0:
		mode |= cpio.S_IFLNK
	case m&fs.ModeNamedPipe != 0:
		mode |= cpio.S_IFIFO
	case m&fs.ModeCharDevice != 0:
		mode |= cpio.S_IFCHR
	case m&fs.ModeDevice != 0:
		mode |= cpio.S_IFBLK
	default:
		mode |= cpio.S_IFREG
	}
	if m&fs.ModeSetuid != 0 {
		mode |= cpio.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		mode |= cpio.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		mode |= cpio.S_ISVTX
	}
	return mode
}
