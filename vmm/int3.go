package vmm

import (
	"sync/atomic"

	"github.com/hullvm/hull/guestmem"
)

// Registers and exception vectors the workaround touches.
const (
	cr0PG      = 1 << 31
	opcodeInt3 = 0xcc
	vectorBP   = 3
)

// int3Fixups counts how often the workaround ran (all VMs of the process).
var int3Fixups atomic.Uint64

// int3Workaround handles an emulation failure on an int3 instruction, which
// the emulating nested KVM of our build hosts cannot emulate (DESIGN.md §4):
// it steps over the 0xCC and injects #BP, exactly what the CPU would have
// done (int3 is a trap: the saved RIP points after it). It reports whether it
// did; any other failing instruction stops the VM with its RIP.
func (c *vcpu) int3Workaround() bool {
	regs, err := c.cpu.GetRegs()
	if err != nil {
		return false
	}
	sregs, err := c.cpu.GetSregs()
	if err != nil {
		return false
	}
	gpa := regs.RIP
	if sregs.CR0&cr0PG != 0 {
		p, err := translate(c.m.mem, sregs.CR3, regs.RIP)
		if err != nil {
			return false
		}
		gpa = uint64(p)
	}
	op, err := c.m.mem.Uint8(guestmem.GPA(gpa))
	if err != nil || op != opcodeInt3 {
		return false
	}
	events, err := c.cpu.GetVCPUEvents()
	if err != nil {
		return false
	}
	regs.RIP++
	if err := c.cpu.SetRegs(&regs); err != nil {
		return false
	}
	events.Exception.Injected = 1
	events.Exception.Nr = vectorBP
	events.Exception.HasErrorCode = 0
	events.Exception.ErrorCode = 0
	if err := c.cpu.SetVCPUEvents(&events); err != nil {
		return false
	}
	if int3Fixups.Add(1) == 1 {
		c.m.cfg.Log.Info("emulating int3 in the VMM: this host's KVM cannot (see hull check)", "vcpu", c.id)
	}
	return true
}
