package exitport

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/hullvm/hull/devices"
)

// Size is the length of the port's range: room for a 4-byte write.
const Size = 4

// Port is the exit port. Safe for concurrent use.
type Port struct {
	exit    func(code uint32)
	ignored atomic.Uint64
}

var _ devices.Device = (*Port)(nil)

// New returns an exit port that calls exit (which may be nil) with each code
// the guest writes.
func New(exit func(code uint32)) *Port { return &Port{exit: exit} }

// Ignored returns how many writes were ignored (wrong offset or width).
func (p *Port) Ignored() uint64 { return p.ignored.Load() }

// Read implements devices.Device: the port reads as zeros.
func (p *Port) Read(_ uint64, data []byte) { clear(data) }

// Write implements devices.Device.
func (p *Port) Write(off uint64, data []byte) {
	var code uint32
	switch {
	case off != 0:
		p.ignored.Add(1)
		return
	case len(data) == 1:
		code = uint32(data[0])
	case len(data) == 2:
		code = uint32(binary.LittleEndian.Uint16(data))
	case len(data) == 4:
		code = binary.LittleEndian.Uint32(data)
	default:
		p.ignored.Add(1)
		return
	}
	if p.exit != nil {
		p.exit(code)
	}
}
