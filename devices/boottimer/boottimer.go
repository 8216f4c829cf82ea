package boottimer

import (
	"sync/atomic"
	"time"

	"github.com/hullvm/hull/devices"
)

const (
	// MagicValue is the byte a guest writes at offset 0 to mark boot
	// complete (Firecracker's MAGIC_VALUE_SIGNAL_GUEST_BOOT_COMPLETE).
	MagicValue = 123
	// Size is the device's range on the MMIO bus: one page.
	Size = 0x1000
)

// Timer is the boot timer. Safe for concurrent use.
type Timer struct {
	mark    func(time.Time)
	ignored atomic.Uint64
}

var _ devices.Device = (*Timer)(nil)

// New returns a boot timer that calls mark (which may be nil) with the time
// of each boot-complete write.
func New(mark func(time.Time)) *Timer { return &Timer{mark: mark} }

// Ignored returns how many writes were not a boot-complete mark.
func (t *Timer) Ignored() uint64 { return t.ignored.Load() }

// Read implements devices.Device: the device reads as zeros.
func (t *Timer) Read(_ uint64, data []byte) { clear(data) }

// Write implements devices.Device.
func (t *Timer) Write(off uint64, data []byte) {
	if off != 0 || len(data) != 1 || data[0] != MagicValue {
		t.ignored.Add(1)
		return
	}
	now := time.Now()
	if t.mark != nil {
		t.mark(now)
	}
}
