package i8042

import (
	"sync"
	"sync/atomic"

	"github.com/hullvm/hull/devices"
)

// Offsets inside the device's range (ports 0x60 and 0x64).
const (
	offData    = 0 // read: output buffer; write: data for a command, or for the keyboard
	offCommand = 4 // read: status; write: controller command

	// Size is the length of the device's range: 0x60 to 0x64 inclusive.
	Size = 5
)

// Status register bits (Linux's I8042_STR_*).
const (
	strOBF     = 0x01 // output buffer full: a byte waits at the data port
	strIBF     = 0x02 // input buffer full: never, commands complete at once
	strSYSFLAG = 0x04 // mirrors the command byte's system flag (self-test passed)
	strCMDDAT  = 0x08 // the last byte written went to the command port
	strKEYLOCK = 0x10 // keyboard not inhibited (Linux warns "Keylock active" without it)
)

// Controller commands (Linux's I8042_CMD_*, in their low byte).
const (
	cmdReadCTR      = 0x20
	cmdWriteCTR     = 0x60
	cmdAuxDisable   = 0xa7
	cmdAuxEnable    = 0xa8
	cmdCtlTest      = 0xaa
	cmdKbdTest      = 0xab
	cmdKbdDisable   = 0xad
	cmdKbdEnable    = 0xae
	cmdReadOutPort  = 0xd0
	cmdWriteOutPort = 0xd1
	cmdPulseMin     = 0xf0 // 0xf0-0xff pulse output lines; bit 0 clear pulses the reset line (0xfe)
	cmdResetCPU     = 0xfe
)

// Answers and bits.
const (
	ctlTestOK = 0x55 // I8042_RET_CTL_TEST
	kbdTestOK = 0x00

	ctrKBDINT = 0x01 // command byte: keyboard interrupt enable
	ctrSYS    = 0x04 // system flag
	ctrKBDDIS = 0x10 // keyboard port disabled
	ctrAUXDIS = 0x20 // aux port disabled

	outPortReset = 0x01 // output port bit 0: CPU reset line, active low
	outPortA20   = 0x02 // output port bit 1: A20 gate
)

// Stats are the controller's counters.
type Stats struct {
	Resets  uint64 // reset callbacks made
	Ignored uint64 // accesses and commands ignored (see the package doc)
}

// I8042 is the controller. Create it with New; safe for concurrent use.
type I8042 struct {
	reset func()

	mu      sync.Mutex
	ctr     byte // command byte ("controller configuration register")
	outPort byte
	status  byte // strCMDDAT only; the rest is computed
	out     byte // output buffer, valid while obf
	obf     bool
	pending byte // command waiting for its data byte (cmdWriteCTR, cmdWriteOutPort), or 0

	resets, ignored atomic.Uint64
}

var _ devices.Device = (*I8042)(nil)

// New returns a controller that calls reset (which may be nil) when the
// guest pulls the reset line.
func New(reset func()) *I8042 {
	return &I8042{
		reset:   reset,
		ctr:     ctrSYS | ctrKBDINT,
		outPort: outPortReset | outPortA20,
	}
}

// Stats returns a snapshot of the counters.
func (c *I8042) Stats() Stats {
	return Stats{Resets: c.resets.Load(), Ignored: c.ignored.Load()}
}

// Read implements devices.Device.
func (c *I8042) Read(off uint64, data []byte) {
	if len(data) != 1 || (off != offData && off != offCommand) {
		c.ignored.Add(1)
		for i := range data {
			data[i] = 0xff
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if off == offCommand {
		data[0] = c.statusLocked()
		return
	}
	data[0] = c.out // an empty buffer reads its last byte, as on the chip
	c.obf = false
}

// Write implements devices.Device.
func (c *I8042) Write(off uint64, data []byte) {
	if len(data) != 1 || (off != offData && off != offCommand) {
		c.ignored.Add(1)
		return
	}
	c.mu.Lock()
	var reset bool
	if off == offCommand {
		c.status |= strCMDDAT
		reset = c.commandLocked(data[0])
	} else {
		c.status &^= strCMDDAT
		reset = c.dataLocked(data[0])
	}
	c.mu.Unlock()
	if reset {
		c.resets.Add(1)
		if c.reset != nil {
			c.reset()
		}
	}
}

func (c *I8042) statusLocked() byte {
	s := c.status | strKEYLOCK
	if c.obf {
		s |= strOBF
	}
	if c.ctr&ctrSYS != 0 {
		s |= strSYSFLAG
	}
	return s
}

func (c *I8042) respondLocked(v byte) {
	c.out, c.obf = v, true
}

// commandLocked runs a controller command and reports whether it pulls the
// reset line.
func (c *I8042) commandLocked(cmd byte) (reset bool) {
	c.pending = 0
	switch cmd {
	case cmdReadCTR:
		c.respondLocked(c.ctr)
	case cmdWriteCTR, cmdWriteOutPort:
		c.pending = cmd
	case cmdAuxDisable:
		c.ctr |= ctrAUXDIS
	case cmdAuxEnable:
		c.ctr &^= ctrAUXDIS
	case cmdKbdDisable:
		c.ctr |= ctrKBDDIS
	case cmdKbdEnable:
		c.ctr &^= ctrKBDDIS
	case cmdCtlTest:
		c.respondLocked(ctlTestOK)
	case cmdKbdTest:
		c.respondLocked(kbdTestOK)
	case cmdReadOutPort:
		c.respondLocked(c.outPort)
	default:
		if cmd >= cmdPulseMin {
			return cmd&outPortReset == 0 // 0xfe and friends
		}
		c.ignored.Add(1)
	}
	return false
}

// dataLocked takes a byte written to the data port: the argument of a
// pending command, else a byte for the keyboard, which is not there.
func (c *I8042) dataLocked(v byte) (reset bool) {
	cmd := c.pending
	c.pending = 0
	switch cmd {
	case cmdWriteCTR:
		c.ctr = v
	case cmdWriteOutPort:
		c.outPort = v
		return v&outPortReset == 0
	default:
		c.ignored.Add(1)
	}
	return false
}
