package vmm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/kvm"
)

// Local APIC registers and delivery modes used to wire the legacy PIC
// through LINT0 (virtual wire mode), as the MP spec's default configuration
// and Firecracker's set_lint do.
const (
	apicLVTLINT0      = 0x350
	apicLVTLINT1      = 0x360
	apicDeliveryMask  = 0x700
	apicModeExtINT    = 0x700
	apicModeNMI       = 0x400
	fpuControlDefault = 0x37f  // FNINIT's x87 control word
	mxcsrDefault      = 0x1f80 // all SSE exceptions masked
)

type vcpu struct {
	m   *machine
	id  int
	cpu *kvm.VCPU
	run *kvm.Run
	tid atomic.Int32 // OS thread running this vCPU, 0 before it started
}

func (m *machine) createVCPUs() error {
	mmapSize, err := m.sys.VCPUMmapSize()
	if err != nil {
		return err
	}
	supported, err := m.sys.SupportedCPUID()
	if err != nil {
		return err
	}
	base := make([]boot.CPUIDEntry, len(supported))
	for i, e := range supported {
		base[i] = boot.CPUIDEntry{Function: e.Function, Index: e.Index, Flags: e.Flags, EAX: e.EAX, EBX: e.EBX, ECX: e.ECX, EDX: e.EDX}
	}
	m.cpuidHash = cpuidHash(boot.NormalizeCPUID(base, 0, m.cfg.CPUs))
	for id := 0; id < m.cfg.CPUs; id++ {
		cpu, err := m.vm.CreateVCPU(id, mmapSize)
		if err != nil {
			return err
		}
		c := &vcpu{m: m, id: id, cpu: cpu, run: cpu.RunData()}
		m.vcpus = append(m.vcpus, c)
		if err := c.configure(base); err != nil {
			return fmt.Errorf("vCPU %d: %w", id, err)
		}
	}
	return nil
}

// configure sets CPUID, MSRs and LAPIC on every vCPU and the boot entry state
// on vCPU 0. The others wait for INIT/SIPI in the in-kernel LAPIC, as on
// real hardware, and the guest starts them.
func (c *vcpu) configure(base []boot.CPUIDEntry) error {
	norm := boot.NormalizeCPUID(base, c.id, c.m.cfg.CPUs)
	entries := make([]kvm.CPUIDEntry, len(norm))
	for i, e := range norm {
		entries[i] = kvm.CPUIDEntry{Function: e.Function, Index: e.Index, Flags: e.Flags, EAX: e.EAX, EBX: e.EBX, ECX: e.ECX, EDX: e.EDX}
	}
	if err := c.cpu.SetCPUID2(entries); err != nil {
		return err
	}
	msrs := boot.BootMSRs()
	kmsrs := make([]kvm.MSREntry, len(msrs))
	for i, msr := range msrs {
		kmsrs[i] = kvm.MSREntry{Index: msr.Index, Data: msr.Value}
	}
	if err := c.cpu.SetMSRs(kmsrs); err != nil {
		return err
	}
	if err := c.setLINT(); err != nil {
		return err
	}
	if c.id != 0 || c.m.boot == nil { // nil: a restore sets the state from the snapshot
		return nil
	}
	return c.setBootState(&c.m.boot.CPU)
}

func (c *vcpu) setLINT() error {
	lapic, err := c.cpu.GetLAPIC()
	if err != nil {
		return err
	}
	setLVT(&lapic, apicLVTLINT0, apicModeExtINT)
	setLVT(&lapic, apicLVTLINT1, apicModeNMI)
	return c.cpu.SetLAPIC(&lapic)
}

func setLVT(l *kvm.LAPICState, reg int, mode uint32) {
	v := uint32(l.Regs[reg]) | uint32(l.Regs[reg+1])<<8 | uint32(l.Regs[reg+2])<<16 | uint32(l.Regs[reg+3])<<24
	v = v&^apicDeliveryMask | mode
	l.Regs[reg], l.Regs[reg+1], l.Regs[reg+2], l.Regs[reg+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func (c *vcpu) setBootState(s *boot.CPUState) error {
	sregs, err := c.cpu.GetSregs()
	if err != nil {
		return err
	}
	sregs.CS, sregs.DS, sregs.ES = kvmSegment(s.CS), kvmSegment(s.DS), kvmSegment(s.ES)
	sregs.FS, sregs.GS, sregs.SS = kvmSegment(s.FS), kvmSegment(s.GS), kvmSegment(s.SS)
	sregs.TR = kvmSegment(s.TR)
	sregs.GDT = kvm.DTable{Base: s.GDT.Base, Limit: s.GDT.Limit}
	sregs.IDT = kvm.DTable{Base: s.IDT.Base, Limit: s.IDT.Limit}
	sregs.CR0, sregs.CR3, sregs.CR4, sregs.EFER = s.CR0, s.CR3, s.CR4, s.EFER
	if err := c.cpu.SetSregs(&sregs); err != nil {
		return err
	}
	regs := kvm.Regs{RIP: s.RIP, RSP: s.RSP, RBP: s.RBP, RSI: s.RSI, RFLAGS: s.RFLAGS}
	if err := c.cpu.SetRegs(&regs); err != nil {
		return err
	}
	fpu := kvm.FPU{FCW: fpuControlDefault, MXCSR: mxcsrDefault}
	return c.cpu.SetFPU(&fpu)
}

func kvmSegment(s boot.Segment) kvm.Segment {
	return kvm.Segment{Base: s.Base, Limit: s.Limit, Selector: s.Selector, Type: s.Type, Present: s.Present,
		DPL: s.DPL, DB: s.DB, S: s.S, L: s.L, G: s.G, AVL: s.AVL}
}

// kick makes the vCPU leave KVM_RUN soon: immediate_exit covers a vCPU
// about to enter, the signal one already inside. SIGURG is the Go runtime's
// own preemption signal: its handler ignores unexpected ones, and its arrival
// makes KVM_RUN return EINTR.
func (c *vcpu) kick() {
	c.run.SetImmediateExit(true)
	if tid := c.tid.Load(); tid != 0 {
		// ESRCH: the thread already ended with its goroutine, nothing to kick.
		if err := unix.Tgkill(unix.Getpid(), int(tid), unix.SIGURG); err != nil && !errors.Is(err, unix.ESRCH) {
			c.m.cfg.Log.Warn("kick vCPU", "vcpu", c.id, "err", err)
		}
	}
}

// loop runs the vCPU until the VM stops. The goroutine keeps its OS thread
// locked until it returns, so the thread (and its signal state) ends with it.
func (c *vcpu) loop() {
	runtime.LockOSThread()
	c.tid.Store(int32(unix.Gettid()))
	defer c.loopGone()
	first := c.id == 0
	for !c.m.stopping.Load() {
		if c.m.pausing.Load() {
			c.park()
			continue
		}
		if first {
			c.m.rec.mark(EventFirstKVMRun)
			first = false
		}
		if errno := c.cpu.Run(); errno != 0 {
			if errno == unix.EINTR || errno == unix.EAGAIN {
				c.m.h.retries.Add(1)
				continue // a signal (Go preemption or our kick): look at stopping again
			}
			c.m.stop(&Exit{Reason: ReasonHostError, VCPU: c.id,
				Message: fmt.Sprintf("KVM_RUN on vCPU %d: %v", c.id, errno)})
			return
		}
		req := c.m.h.handle(c.run)
		if req == nil {
			continue
		}
		if req.emul && c.int3Workaround() {
			continue
		}
		msg := req.message
		if req.needRIP {
			msg += c.where()
		}
		c.m.stop(&Exit{Reason: req.reason, Code: req.code, Message: msg, VCPU: c.id})
		return
	}
}

// where describes the vCPU's position for a stop message.
func (c *vcpu) where() string {
	regs, err := c.cpu.GetRegs()
	if err != nil {
		return fmt.Sprintf(" on vCPU %d (registers unreadable: %v)", c.id, err)
	}
	return fmt.Sprintf(" on vCPU %d at RIP %#x", c.id, regs.RIP)
}

// cpuidHash identifies the CPU features a VM's vCPUs get: a snapshot is
// only restored where they are the same.
func cpuidHash(entries []boot.CPUIDEntry) string {
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%x %x %x %x %x %x %x\n", e.Function, e.Index, e.Flags, e.EAX, e.EBX, e.ECX, e.EDX)
	}
	return hex.EncodeToString(h.Sum(nil))
}
