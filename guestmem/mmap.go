package guestmem

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// NewMmap returns guest memory backed by private anonymous mappings, one per
// range. Pages are reserved lazily (MAP_NORESERVE): the host pays only for
// what the guest touches.
func NewMmap(ranges ...Range) (*Memory, error) {
	if err := checkRanges(ranges); err != nil {
		return nil, err
	}
	return mapRegions(sorted(ranges), func(r Range) ([]byte, error) {
		b, err := unix.Mmap(-1, 0, int(r.Size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return nil, fmt.Errorf("guestmem: mmap %d MiB for guest RAM at %#x: %w", r.Size>>20, uint64(r.Base), err)
		}
		return b, nil
	})
}

// mapRegions maps each of ranges (sorted) with mapOne into a Memory whose
// Close unmaps them; when one fails, those mapped before are unmapped.
func mapRegions(ranges []Range, mapOne func(Range) ([]byte, error)) (*Memory, error) {
	m := &Memory{}
	var maps [][]byte
	unmap := func() error {
		var errs []error
		for _, b := range maps {
			if err := unix.Munmap(b); err != nil {
				errs = append(errs, err)
			}
		}
		maps = nil
		return errors.Join(errs...)
	}
	for _, r := range ranges {
		b, err := mapOne(r)
		if err != nil {
			_ = unmap() // best effort: the mmap error is the one to report
			return nil, err
		}
		maps = append(maps, b)
		m.regions = append(m.regions, Region{Base: r.Base, Host: b})
	}
	m.unmap = unmap
	return m, nil
}
