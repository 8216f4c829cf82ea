package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// newc header: the magic, then 13 fields of 8 hex digits.
const (
	newcMagic     = "070701"
	newcCRCMagic  = "070702" // same layout, with a checksum Read does not verify
	newcHeaderLen = 6 + 13*8
	trailerName   = "TRAILER!!!"
)

// Header field indexes after the magic.
const (
	hIno = iota
	hMode
	hUID
	hGID
	hNLink
	hMTime
	hFileSize
	hDevMajor
	hDevMinor
	hRdevMajor
	hRdevMinor
	hNameSize
	hCheck
)

// Unix file-type and mode bits (st_mode).
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
	sISUID  = 0o4000
	sISGID  = 0o2000
	sISVTX  = 0o1000
)

// Read parses a newc archive, gzip-compressed or not (told apart by the
// gzip magic), up to its trailer, and returns its entries in archive order.
// It is its own parser, independent of the u-root reader Write's output is
// tested against. It skips the root entry "." (some writers add one),
// strips a leading "./" from names, and rejects what Write would reject
// (see Write), hard links, sockets, a second archive after the trailer and
// a truncated archive. Owners, mtimes and inode numbers are not kept.
func Read(r io.Reader) ([]File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	var files []File
	seen := map[string]bool{}
	off := 0
	for {
		f, next, trailer, err := readEntry(data, off)
		if err != nil {
			return nil, err
		}
		start := off
		off = next
		if trailer {
			break
		}
		if f.Path == "." {
			continue
		}
		if err := check(f); err != nil {
			return nil, fmt.Errorf("entry at offset %d: %w", start, err)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("%w: %q appears twice", ErrInvalid, f.Path)
		}
		seen[f.Path] = true
		files = append(files, f)
	}
	// The kernel reads concatenated archives; this reader does not.
	if rest := data[off:]; len(bytes.Trim(rest, "\x00")) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the trailer (a second archive?)", ErrInvalid, len(rest))
	}
	return files, nil
}

// readEntry parses the entry at off and returns it, the offset of the next
// one and whether it was the trailer.
func readEntry(data []byte, off int) (f File, next int, trailer bool, err error) {
	if len(data)-off < newcHeaderLen {
		return f, 0, false, fmt.Errorf("%w: truncated header at offset %d (no trailer)", ErrInvalid, off)
	}
	hdr := data[off : off+newcHeaderLen]
	if m := string(hdr[:6]); m != newcMagic && m != newcCRCMagic {
		return f, 0, false, fmt.Errorf("%w: bad magic %q at offset %d, want newc %s", ErrInvalid, m, off, newcMagic)
	}
	var h [13]uint64
	for i := range h {
		field := string(hdr[6+8*i : 6+8*i+8])
		if h[i], err = strconv.ParseUint(field, 16, 32); err != nil {
			return f, 0, false, fmt.Errorf("%w: header field %d %q at offset %d is not hex", ErrInvalid, i, field, off)
		}
	}
	nameStart := off + newcHeaderLen
	nameEnd := nameStart + int(h[hNameSize])
	if h[hNameSize] == 0 || nameEnd > len(data) || data[nameEnd-1] != 0 {
		return f, 0, false, fmt.Errorf("%w: bad name (size %d) at offset %d", ErrInvalid, h[hNameSize], off)
	}
	name := string(data[nameStart : nameEnd-1])
	dataStart := align4(nameEnd)
	dataEnd := dataStart + int(h[hFileSize])
	if dataStart > len(data) || dataEnd > len(data) {
		return f, 0, false, fmt.Errorf("%w: %q: %d bytes of data run past the end", ErrInvalid, name, h[hFileSize])
	}
	next = align4(dataEnd)
	if name == trailerName {
		return f, min(next, len(data)), true, nil
	}
	mode, err := fileMode(h[hMode])
	if err != nil {
		return f, 0, false, fmt.Errorf("%q: %w", name, err)
	}
	if mode.IsRegular() && h[hNLink] > 1 {
		return f, 0, false, fmt.Errorf("%w: %q has %d links: hard links are not supported", ErrInvalid, name, h[hNLink])
	}
	f = File{Path: strings.TrimPrefix(name, "./"), Mode: mode}
	if h[hFileSize] > 0 {
		f.Data = bytes.Clone(data[dataStart:dataEnd])
	}
	if mode&fs.ModeDevice != 0 {
		f.Major, f.Minor = uint32(h[hRdevMajor]), uint32(h[hRdevMinor])
	}
	return f, next, false, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// fileMode converts a Unix st_mode to an os.FileMode (the inverse of
// unixMode).
func fileMode(m uint64) (os.FileMode, error) {
	mode := os.FileMode(m & 0o777)
	switch m & sIFMT {
	case sIFREG:
	case sIFDIR:
		mode |= fs.ModeDir
	case sIFLNK:
		mode |= fs.ModeSymlink
	case sIFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		mode |= fs.ModeDevice
	case sIFIFO:
		mode |= fs.ModeNamedPipe
	case sIFSOCK:
		return 0, fmt.Errorf("%w: sockets are not supported", ErrInvalid)
	default:
		return 0, fmt.Errorf("%w: unknown file type in mode %#o", ErrInvalid, m)
	}
	if m&sISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&sISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&sISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode, nil
}
