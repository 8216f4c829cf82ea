package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/kvm"
)

// cpuStateConsole collects a VM's serial output (written from vCPU threads).
type cpuStateConsole struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *cpuStateConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *cpuStateConsole) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// ioloopPort stands in for the exit port (0xf4) and the port the ioloop
// guest writes n times (0xf5): it counts those writes and stops the machine
// after stopAt of them (0: never), or when the guest exits.
type ioloopPort struct {
	m      *machine
	stopAt uint64
	writes atomic.Uint64
}

func (p *ioloopPort) Read(_ uint64, data []byte) { clear(data) }

func (p *ioloopPort) Write(off uint64, data []byte) {
	switch off {
	case 0: // the exit port
		var b [4]byte
		copy(b[:], data)
		code := binary.LittleEndian.Uint32(b[:])
		p.m.stop(&Exit{Reason: ReasonGuestExit, Code: int(code), Message: fmt.Sprintf("test guest exited with code %d", code), VCPU: -1})
	case 1: // PORT_UNHANDLED
		if n := p.writes.Add(1); n == p.stopAt {
			p.m.stop(&Exit{Reason: ReasonCancelled, Message: fmt.Sprintf("stopped after %d writes", n), VCPU: -1})
		}
	}
}

// buildIOLoop builds the ioloop guest with n writes on 2 vCPUs, its port
// device in place of the exit port.
func buildIOLoop(t *testing.T, guest string, n int, stopAt uint64, console *cpuStateConsole) (*machine, *ioloopPort) {
	t.Helper()
	m, err := build(Config{Kernel: guest, Cmdline: fmt.Sprintf("n=%d", n), MemMiB: 64, CPUs: 2, Console: console})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.close(); err != nil {
			t.Error(err)
		}
	})
	p := &ioloopPort{m: m, stopAt: stopAt}
	if err := m.pio.Insert(exitPortBase, exitPortSize, p, "test ports"); err != nil {
		t.Fatal(err)
	}
	return m, p
}

// TestKVMCPUStateTransfer moves a running guest's KVM state into a second
// machine, which then carries on where the first stopped.
//
// Machine A runs the ioloop guest (n=3000 writes to port 0xf5) on 2 vCPUs
// and is stopped by the port device right after the 1000th write, with the
// OUT's exit handled but not completed by KVM. Before it runs, the test
// sets values a fresh machine would not have (debug registers, XMM0, MSRs,
// TSC 2^40, AP vCPU 1 in INIT_RECEIVED with an LVT error entry, PIC masks, an
// IOAPIC pin, a PIT channel). A's vCPU and VM state are saved, guest RAM
// copied, and both restored into machine B, built from the same config.
// Then:
//   - B's state, read back, equals A's field by field, but for the TSC
//     and kvmclock, which moved on, and the PIT's host load times;
//   - B runs to the guest's clean exit doing exactly the remaining 2000
//     writes, without printing the banner a fresh boot prints: it
//     continued from A's registers, past A's last OUT.
func TestKVMCPUStateTransfer(t *testing.T) {
	testtier.RequireKVM(t)
	dir := testtier.RequireFile(t, "HULL_TEST_GUESTS", "the test guests (make -C tests/guest)")
	guest := filepath.Join(dir, "ioloop.elf")
	const n, stopAt = 3000, 1000

	var consoleA cpuStateConsole
	a, portA := buildIOLoop(t, guest, n, stopAt, &consoleA)
	marks := setDistinctState(t, a)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	exitA := a.run(ctx)
	if exitA.Reason != ReasonCancelled || portA.writes.Load() != stopAt {
		t.Fatalf("machine A stopped with %s after %d writes (%q), want the port's stop after %d", exitA.Reason, portA.writes.Load(), exitA.Message, stopAt)
	}

	msrs, err := snapshotMSRs(a.sys)
	if err != nil {
		t.Fatal(err)
	}
	var saved []*VCPUState
	for _, c := range a.vcpus {
		s, err := c.saveState(msrs)
		if err != nil {
			t.Fatalf("save vCPU %d: %v", c.id, err)
		}
		saved = append(saved, s)
	}
	savedVM, err := a.saveVMState()
	if err != nil {
		t.Fatal(err)
	}
	marks.check(t, saved, savedVM)
	t.Logf("vCPU 0: RIP %#x, %d MSRs, XSAVE %d bytes, TSC %d kHz; vCPU 1 MP state %d", saved[0].Regs.RIP,
		len(saved[0].MSRs), len(saved[0].XSave), saved[0].TSCKHz, saved[1].MPState)

	var consoleB cpuStateConsole
	b, portB := buildIOLoop(t, guest, n, 0, &consoleB)
	ra, rb := a.mem.Regions(), b.mem.Regions()
	for i := range ra {
		copy(rb[i].Host, ra[i].Host)
	}
	if err := b.restoreVMState(savedVM); err != nil {
		t.Fatalf("restore VM state: %v", err)
	}
	for i, c := range b.vcpus {
		if err := c.restoreState(saved[i]); err != nil {
			t.Fatalf("restore vCPU %d: %v", c.id, err)
		}
	}

	// B's state as KVM now has it.
	for i, c := range b.vcpus {
		got, err := c.saveState(msrs)
		if err != nil {
			t.Fatalf("save B's vCPU %d: %v", c.id, err)
		}
		compareVCPUState(t, saved[i], got)
	}
	gotVM, err := b.saveVMState()
	if err != nil {
		t.Fatal(err)
	}
	compareVMState(t, savedVM, gotVM)

	exitB := b.run(ctx)
	if exitB.Reason != ReasonGuestExit || exitB.Code != 0 {
		t.Fatalf("machine B stopped with %s (code %d, %q), want the guest's exit with 0; console:\n%s", exitB.Reason, exitB.Code, exitB.Message, consoleB.String())
	}
	if got := portB.writes.Load(); got != n-stopAt {
		t.Errorf("machine B did %d writes, want the remaining %d", got, n-stopAt)
	}
	if out := consoleA.String(); !strings.Contains(out, "ioloop: n=3000") || strings.Contains(out, "ioloop: done") {
		t.Errorf("machine A's console: %q", out)
	}
	if out := consoleB.String(); out != "ioloop: done\n" {
		t.Errorf("machine B's console: %q, want only the guest's last line", out)
	}
}

// distinctState is what setDistinctState set, for check.
type distinctState struct {
	db     [4]uint64
	xmm0   []byte
	msrs   []kvm.MSREntry
	tsc    uint64
	imr    [2]uint8
	pin10  uint64
	pit2   uint32
	lapic1 uint32 // LVT error register of vCPU 1
}

const (
	xsaveXMM0Offset = 160 // XMM0 in the XSAVE legacy area
	xsaveXStateBV   = 512 // the XSAVE header's XSTATE_BV
	apicLVTError    = 0x370
)

// setDistinctState gives machine m (built, not run) state that a fresh
// machine does not have and that the ioloop guest leaves alone.
func setDistinctState(t *testing.T, m *machine) *distinctState {
	t.Helper()
	d := &distinctState{
		db:   [4]uint64{0x1000, 0x2000, 0x3000, 0xffff_8000_0000_4000}, // DR7 stays off: no breakpoints
		xmm0: []byte("hull cpustate!!!"),                               // the guest is built -mgeneral-regs-only
		msrs: []kvm.MSREntry{
			{Index: msrLSTAR, Data: 0xffff_ffff_8100_0000}, {Index: msrSTAR, Data: 0x0023_0010_0000_0000},
			{Index: msrKernelGSBase, Data: 0xffff_8880_0000_1000}, {Index: msrIA32SysenterEIP, Data: 0x8100_1000}, /* 32 bits on AMD */
			{Index: msrIA32PAT, Data: 0x0007_0406_0007_0406},
		},
		tsc: 1 << 40, imr: [2]uint8{0xfb, 0xff}, pin10: 1<<16 | 0x5a, pit2: 0x1234, lapic1: 1<<16 | 0xfe,
	}
	c0, c1 := m.vcpus[0].cpu, m.vcpus[1].cpu
	dr, err := c0.GetDebugRegs()
	if err != nil {
		t.Fatal(err)
	}
	dr.DB = d.db
	if err := c0.SetDebugRegs(&dr); err != nil {
		t.Fatal(err)
	}
	xs, err := c0.GetXSave()
	if err != nil {
		t.Fatal(err)
	}
	copy(xs[xsaveXMM0Offset:], d.xmm0)
	binary.LittleEndian.PutUint64(xs[xsaveXStateBV:], binary.LittleEndian.Uint64(xs[xsaveXStateBV:])|1<<1) // SSE state present
	if err := c0.SetXSave(xs); err != nil {
		t.Fatal(err)
	}
	if err := c0.SetMSRs(append([]kvm.MSREntry{{Index: msrIA32TSC, Data: d.tsc}}, d.msrs...)); err != nil {
		t.Fatal(err)
	}
	// vCPU 1: an AP that got INIT and waits for a SIPI.
	if err := c1.SetMPState(kvm.MPStateInitReceived); err != nil {
		t.Fatal(err)
	}
	lapic, err := c1.GetLAPIC()
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(lapic.Regs[apicLVTError:], d.lapic1)
	if err := c1.SetLAPIC(&lapic); err != nil {
		t.Fatal(err)
	}
	// The VM: PIC masks, a masked IOAPIC pin, PIT channel 2 (gate low).
	for i, id := range []uint32{kvm.IRQChipPICMaster, kvm.IRQChipPICSlave} {
		chip, err := m.vm.GetIRQChip(id)
		if err != nil {
			t.Fatal(err)
		}
		p, err := chip.PIC()
		if err != nil {
			t.Fatal(err)
		}
		p.IMR = d.imr[i]
		if err := chip.SetPIC(p); err != nil {
			t.Fatal(err)
		}
		if err := m.vm.SetIRQChip(&chip); err != nil {
			t.Fatal(err)
		}
	}
	chip, err := m.vm.GetIRQChip(kvm.IRQChipIOAPIC)
	if err != nil {
		t.Fatal(err)
	}
	io, err := chip.IOAPIC()
	if err != nil {
		t.Fatal(err)
	}
	io.RedirTbl[10] = d.pin10
	if err := chip.SetIOAPIC(io); err != nil {
		t.Fatal(err)
	}
	if err := m.vm.SetIRQChip(&chip); err != nil {
		t.Fatal(err)
	}
	pit, err := m.vm.GetPIT2()
	if err != nil {
		t.Fatal(err)
	}
	pit.Channels[2].Count, pit.Channels[2].Mode, pit.Channels[2].RWMode = d.pit2, 0, 3
	if err := m.vm.SetPIT2(&pit); err != nil {
		t.Fatal(err)
	}
	return d
}

// check asserts the saved state holds what setDistinctState set.
func (d *distinctState) check(t *testing.T, vc []*VCPUState, vm *VMState) {
	t.Helper()
	if vc[0].DebugRegs.DB != d.db {
		t.Errorf("saved DR0-3 %#x, set %#x", vc[0].DebugRegs.DB, d.db)
	}
	if got := vc[0].XSave[xsaveXMM0Offset : xsaveXMM0Offset+16]; !bytes.Equal(got, d.xmm0) {
		t.Errorf("saved XMM0 %q, set %q", got, d.xmm0)
	}
	have := map[uint32]uint64{}
	for _, e := range vc[0].MSRs {
		have[e.Index] = e.Data
	}
	for _, e := range d.msrs {
		if v, ok := have[e.Index]; !ok || v != e.Data {
			t.Errorf("saved MSR %#x = %#x (saved: %v), set %#x", e.Index, v, ok, e.Data)
		}
	}
	if tsc := have[msrIA32TSC]; tsc < d.tsc || tsc > d.tsc+1<<38 {
		t.Errorf("saved TSC %#x, set %#x before the guest ran", tsc, d.tsc)
	}
	if vc[1].MPState != kvm.MPStateInitReceived {
		t.Errorf("saved vCPU 1: MP state %d, want %d (INIT received)", vc[1].MPState, kvm.MPStateInitReceived)
	}
	if got := binary.LittleEndian.Uint32(vc[1].LAPIC.Regs[apicLVTError:]); got != d.lapic1 {
		t.Errorf("saved vCPU 1 LVT error %#x, set %#x", got, d.lapic1)
	}
	for i, chip := range []kvm.IRQChip{vm.PICMaster, vm.PICSlave} {
		if p, err := chip.PIC(); err != nil || p.IMR != d.imr[i] {
			t.Errorf("saved PIC %d IMR %#x (%v), set %#x", i, p.IMR, err, d.imr[i])
		}
	}
	if io, err := vm.IOAPIC.IOAPIC(); err != nil || io.RedirTbl[10] != d.pin10 {
		t.Errorf("saved IOAPIC pin 10 %#x (%v), set %#x", io.RedirTbl[10], err, d.pin10)
	}
	if c := vm.PIT.Channels[2]; c.Count != d.pit2 {
		t.Errorf("saved PIT channel 2 count %#x, set %#x", c.Count, d.pit2)
	}
}

// compareVCPUState compares a restored vCPU's state with the saved one.
// The TSC moved on between the two reads: it must be at or after the
// saved value and within a minute of it.
func compareVCPUState(t *testing.T, want, got *VCPUState) {
	t.Helper()
	w, g := *want, *got
	w.MSRs, g.MSRs = nil, nil
	if !reflect.DeepEqual(w, g) {
		v, h := reflect.ValueOf(w), reflect.ValueOf(g)
		for i := range v.NumField() {
			if !reflect.DeepEqual(v.Field(i).Interface(), h.Field(i).Interface()) {
				t.Errorf("vCPU %d %s: restored %+v, saved %+v", want.ID, v.Type().Field(i).Name, h.Field(i).Interface(), v.Field(i).Interface())
			}
		}
	}
	if len(got.MSRs) != len(want.MSRs) {
		t.Errorf("vCPU %d: %d MSRs read back, %d saved", want.ID, len(got.MSRs), len(want.MSRs))
		return
	}
	for i, e := range want.MSRs {
		r := got.MSRs[i]
		switch {
		case r.Index != e.Index:
			t.Errorf("vCPU %d MSR %d: %#x read back, %#x saved", want.ID, i, r.Index, e.Index)
		case e.Index == msrIA32TSC:
			if limit := uint64(want.TSCKHz) * 1000 * 60; r.Data < e.Data || (limit > 0 && r.Data-e.Data > limit) {
				t.Errorf("vCPU %d TSC %#x after restore, %#x saved (%d kHz)", want.ID, r.Data, e.Data, want.TSCKHz)
			}
		case r.Data != e.Data:
			t.Errorf("vCPU %d MSR %#x: %#x after restore, %#x saved", want.ID, e.Index, r.Data, e.Data)
		}
	}
}

// compareVMState compares a restored VM's state with the saved one. The PIT
// channels' load times are host clock readings of the moment each count was
// loaded (on restore, now); kvmclock moved on, at least by the time between
// the reads.
func compareVMState(t *testing.T, want, got *VMState) {
	t.Helper()
	for _, c := range []struct {
		name      string
		want, got kvm.IRQChip
	}{{"PIC master", want.PICMaster, got.PICMaster}, {"PIC slave", want.PICSlave, got.PICSlave}, {"IOAPIC", want.IOAPIC, got.IOAPIC}} {
		if c.want != c.got {
			t.Errorf("%s: restored % x, saved % x", c.name, c.got.Chip[:32], c.want.Chip[:32])
		}
	}
	wp, gp := want.PIT, got.PIT
	for i := range wp.Channels {
		wp.Channels[i].CountLoadTime, gp.Channels[i].CountLoadTime = 0, 0
	}
	if wp != gp {
		t.Errorf("PIT: restored %+v, saved %+v", gp, wp)
	}
	if got.Clock.Clock < want.Clock.Clock || got.Clock.Clock-want.Clock.Clock > uint64(time.Minute) {
		t.Errorf("kvmclock %d ns after restore, %d saved", got.Clock.Clock, want.Clock.Clock)
	}
}
