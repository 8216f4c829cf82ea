package guestmem

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// PageSize is the granularity of WriteSparse.
const PageSize = 4096

// FileSize is the size of a memory file for ranges: the regions back to
// back in address order (the layout WriteSparse writes and NewFile maps).
func FileSize(ranges ...Range) uint64 {
	var n uint64
	for _, r := range ranges {
		n += r.Size
	}
	return n
}

// NewFile returns guest memory mapped from f (a memory file WriteSparse
// wrote for the same ranges) with MAP_PRIVATE: pages load from the file
// when the guest first touches them, and the guest's writes stay in this
// process. f may be closed afterwards.
func NewFile(f *os.File, ranges ...Range) (*Memory, error) {
	if err := checkRanges(ranges); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rs := sorted(ranges)
	if want := FileSize(rs...); uint64(st.Size()) != want {
		return nil, fmt.Errorf("guestmem: memory file %s has %d bytes, the layout needs %d", f.Name(), st.Size(), want)
	}
	var off int64
	return mapRegions(rs, func(r Range) ([]byte, error) {
		b, err := unix.Mmap(int(f.Fd()), off, int(r.Size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_NORESERVE)
		if err != nil {
			return nil, fmt.Errorf("guestmem: mmap %s at %d for guest RAM at %#x: %w", f.Name(), off, uint64(r.Base), err)
		}
		off += int64(r.Size)
		return b, nil
	})
}

// WriteSparse writes guest RAM to f, regions back to back in address
// order, leaving holes where pages are zero, and returns the bytes it
// wrote. f is truncated to the full size first, so the holes read as zero.
func (m *Memory) WriteSparse(f *os.File) (int64, error) {
	var total uint64
	for _, r := range m.regions {
		total += uint64(len(r.Host))
	}
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if err := f.Truncate(int64(total)); err != nil {
		return 0, err
	}
	var zero [PageSize]byte
	var written, off int64
	for _, r := range m.regions {
		h := r.Host
		// Runs of non-zero pages go out in one write each.
		for i := 0; i < len(h); {
			n := min(PageSize, len(h)-i)
			if bytes.Equal(h[i:i+n], zero[:n]) {
				i += n
				continue
			}
			j := i + n
			for j < len(h) {
				k := min(PageSize, len(h)-j)
				if bytes.Equal(h[j:j+k], zero[:k]) {
					break
				}
				j += k
			}
			if _, err := f.WriteAt(h[i:j], off+int64(i)); err != nil {
				return written, err
			}
			written += int64(j - i)
			i = j
		}
		off += int64(len(h))
	}
	return written, nil
}

// Ranges returns the memory's layout.
func (m *Memory) Ranges() []Range {
	out := make([]Range, len(m.regions))
	for i, r := range m.regions {
		out[i] = Range{Base: r.Base, Size: uint64(len(r.Host))}
	}
	return out
}
