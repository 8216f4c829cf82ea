package devices

import (
	"errors"
	"fmt"
)

// Sentinels matched with errors.Is against the errors Bus.Insert returns.
var (
	// ErrOverlap is matched by every *OverlapError.
	ErrOverlap = errors.New("device ranges overlap")
	// ErrBadRange: a zero-sized range, or one that runs past the end of the
	// 64-bit address space.
	ErrBadRange = errors.New("invalid device range")
	// ErrNilDevice: Insert was given a nil Device.
	ErrNilDevice = errors.New("nil device")
)

// OverlapError says which two devices' ranges would overlap.
type OverlapError struct {
	Bus      string // the bus's name
	New      Range  // the range Insert rejected
	Existing Range  // the range already on the bus that it intersects
}

func (e *OverlapError) Error() string {
	return fmt.Sprintf("devices: bus %q: %s %s overlaps %s %s",
		e.Bus, e.New.Name, e.New.span(), e.Existing.Name, e.Existing.span())
}

// Unwrap lets errors.Is(err, ErrOverlap) match.
func (e *OverlapError) Unwrap() error { return ErrOverlap }
