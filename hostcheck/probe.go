package hostcheck

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/hullvm/hull/kvm"
	"golang.org/x/sys/unix"
)

// errTimeout is returned by runGuest when the guest did not exit in time.
var errTimeout = errors.New("guest did not exit in time")

// probeVM is a VM of the probes' own: probeMemSize of memory holding the
// base layout, the supported CPUID, and a fresh vCPU for every run (after
// KVM_EXIT_SHUTDOWN, SVM reinitializes the vCPU, so nothing is reused).
type probeVM struct {
	sys      *kvm.System
	vm       *kvm.VM
	mem      []byte
	cpuid    []kvm.CPUIDEntry
	mmapSize int
	nextID   int
}

func newProbeVM(sys *kvm.System) (_ *probeVM, err error) {
	p := &probeVM{sys: sys}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
		}
	}()
	if p.mmapSize, err = sys.VCPUMmapSize(); err != nil {
		return nil, err
	}
	if p.cpuid, err = sys.SupportedCPUID(); err != nil {
		return nil, err
	}
	if p.vm, err = sys.CreateVM(); err != nil {
		return nil, err
	}
	p.mem, err = unix.Mmap(-1, 0, probeMemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap guest memory: %w", err)
	}
	if err = writeBase(p.mem); err != nil {
		return nil, err
	}
	if err = p.vm.SetUserMemoryRegion(0, 0, p.mem, 0); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *probeVM) close() error {
	var errs []error
	if p.vm != nil {
		errs = append(errs, p.vm.Close())
	}
	if p.mem != nil {
		errs = append(errs, unix.Munmap(p.mem))
		p.mem = nil
	}
	return errors.Join(errs...)
}

// newVCPU creates a vCPU in 64-bit mode at the given CPL, about to execute
// at rip, with the CPUID set (KVM refuses EFER.LME/SCE without it) and the
// extra MSRs.
func (p *probeVM) newVCPU(cpl int, rip uint64, sce bool, msrs []kvm.MSREntry) (_ *kvm.VCPU, err error) {
	cpu, err := p.vm.CreateVCPU(p.nextID, p.mmapSize)
	if err != nil {
		return nil, err
	}
	p.nextID++
	defer func() {
		if err != nil {
			err = errors.Join(err, cpu.Close())
		}
	}()
	if err = cpu.SetCPUID2(p.cpuid); err != nil {
		return nil, err
	}
	sregs, err := cpu.GetSregs()
	if err != nil {
		return nil, err
	}
	sregs = longModeSregs(sregs, cpl, sce)
	if err = cpu.SetSregs(&sregs); err != nil {
		return nil, err
	}
	if len(msrs) > 0 {
		if err = cpu.SetMSRs(msrs); err != nil {
			return nil, err
		}
	}
	regs := kvm.Regs{RIP: rip, RSP: stackTop, RFLAGS: rflagsReserved, RAX: probeAL}
	if err = cpu.SetRegs(&regs); err != nil {
		return nil, err
	}
	return cpu, nil
}

// runGuest runs cpu until it exits for a reason other than EINTR/EAGAIN and
// returns the exit reason and the time spent in KVM_RUN. After timeout it
// kicks the vCPU out (immediate_exit plus a signal to the vCPU's thread) and
// returns errTimeout.
func runGuest(cpu *kvm.VCPU, timeout time.Duration) (uint32, time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run := cpu.RunData()
	run.SetImmediateExit(false)
	pid, tid := unix.Getpid(), unix.Gettid()
	var expired atomic.Bool
	done := make(chan struct{})
	defer close(done)
	timer := time.AfterFunc(timeout, func() {
		expired.Store(true)
		run.SetImmediateExit(true)
		// Signal until the vCPU thread is out of KVM_RUN. SIGURG is the Go
		// runtime's preemption signal: harmless to the thread if it is
		// already elsewhere.
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = unix.Tgkill(pid, tid, unix.SIGURG) // best effort; immediate_exit covers a missed signal
			time.Sleep(5 * time.Millisecond)
		}
	})
	defer timer.Stop()
	start := time.Now()
	for {
		switch errno := cpu.Run(); errno {
		case 0:
			return run.ExitReason(), time.Since(start), nil
		case unix.EINTR, unix.EAGAIN:
			if expired.Load() {
				return 0, time.Since(start), errTimeout
			}
		default:
			return 0, time.Since(start), &kvm.Error{Op: "KVM_RUN", Errno: errno}
		}
	}
}

// loopRun runs the counting loop n times at cpl on a fresh vCPU and returns
// the time to its triple fault.
func (p *probeVM) loopRun(cpl int, n uint32, timeout time.Duration) (time.Duration, error) {
	code, err := loopCode(n)
	if err != nil {
		return 0, err
	}
	clear(p.mem[userCodeAddr : userCodeAddr+pageSize])
	copy(p.mem[userCodeAddr:], code)
	cpu, err := p.newVCPU(cpl, userCodeAddr, false, nil)
	if err != nil {
		return 0, err
	}
	reason, d, runErr := runGuest(cpu, timeout)
	if err := cpu.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return d, runErr
	}
	if reason != kvm.ExitShutdown {
		return d, fmt.Errorf("CPL%d loop ended with %s, want KVM_EXIT_SHUTDOWN (ud2 without an IDT)", cpl, kvm.ExitName(reason))
	}
	return d, nil
}

// loopSpeed is one CPL's measurement.
type loopSpeed struct {
	nsPerIter float64
	iters     uint32
}

// Tuning of measureLoop.
const (
	firstIters = 1000
	targetWork = 20 * time.Millisecond // aim for this much loop time in the final run
	maxGrow    = 1000
	fixedRuns  = 2
)

// measureLoop measures ns per loop iteration at cpl: the time of a 1-iteration
// run (entry, triple fault, exit) is subtracted from runs of growing length
// until one spends targetWork in the loop or the deadline nears. It starts at
// firstIters so a host that emulates CPL0 (~µs per instruction) costs
// milliseconds, not seconds.
func (p *probeVM) measureLoop(cpl int, deadline time.Time) (loopSpeed, error) {
	var fixed time.Duration
	for i := 0; i < fixedRuns; i++ {
		d, err := p.loopRun(cpl, 1, time.Until(deadline))
		if err != nil {
			return loopSpeed{}, err
		}
		if i == 0 || d < fixed {
			fixed = d
		}
	}
	var best loopSpeed
	n := uint32(firstIters)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			if best.iters > 0 {
				return best, nil
			}
			return loopSpeed{}, errTimeout
		}
		d, err := p.loopRun(cpl, n, left)
		if errors.Is(err, errTimeout) && best.iters > 0 {
			return best, nil // out of budget: keep the last complete measurement
		}
		if err != nil {
			return loopSpeed{}, err
		}
		work := max(d-fixed, time.Nanosecond)
		best = loopSpeed{nsPerIter: float64(work.Nanoseconds()) / float64(n), iters: n}
		if work >= targetWork || n == maxLoopN {
			return best, nil
		}
		grow := min(float64(targetWork)/float64(work)*1.2, maxGrow)
		// Do not start a run the remaining budget cannot finish: the next
		// run costs about fixed + work*grow.
		if fit := float64(time.Until(deadline)-fixed) / float64(work) * 0.8; fit < grow {
			grow = fit
		}
		if grow < 2 {
			return best, nil
		}
		n = uint32(min(float64(n)*grow, maxLoopN))
	}
}

// speedResult is the outcome of the CPL0/CPL3 probe.
type speedResult struct {
	cpl0, cpl3 loopSpeed
}

// probeSpeed measures the same loop at CPL3 and at CPL0 in a VM of its own.
func probeSpeed(sys *kvm.System, deadline time.Time) (res speedResult, err error) {
	p, err := newProbeVM(sys)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, p.close()) }()
	// CPL3 first: it is native everywhere, so it costs little of the budget;
	// CPL0 gets what is left (and needs it on an emulating host).
	mid := time.Now().Add(time.Until(deadline) / 3)
	if res.cpl3, err = p.measureLoop(3, mid); err != nil {
		return res, fmt.Errorf("CPL3 loop: %w", err)
	}
	if res.cpl0, err = p.measureLoop(0, deadline); err != nil {
		return res, fmt.Errorf("CPL0 loop: %w", err)
	}
	return res, nil
}

// syscallResult is the outcome of the SYSCALL probe.
type syscallResult struct {
	works bool
	exit  string // what the guest ended with
}

// probeSyscall runs `syscall` at CPL3 with LSTAR pointing at a
// supervisor-only page that does `out` to probePort. A working SYSCALL
// reaches CPL0 and exits with KVM_EXIT_IO on probePort; a host where SYSCALL
// stays at CPL3 (DESIGN.md §4) faults on the fetch at LSTAR and, with no
// IDT, shuts down.
func probeSyscall(sys *kvm.System, timeout time.Duration) (res syscallResult, err error) {
	p, err := newProbeVM(sys)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, p.close()) }()
	copy(p.mem[userCodeAddr:], syscallUserCode())
	copy(p.mem[kernelCodeAddr:], syscallKernelCode(probePort))
	cpu, err := p.newVCPU(3, userCodeAddr, true, syscallMSRs())
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, cpu.Close()) }()
	reason, _, err := runGuest(cpu, timeout)
	if err != nil {
		return res, err
	}
	res.exit = kvm.ExitName(reason)
	switch reason {
	case kvm.ExitIO:
		io, err := cpu.RunData().IO()
		if err != nil {
			return res, err
		}
		res.exit = fmt.Sprintf("KVM_EXIT_IO port %#x", io.Port)
		if io.Port != probePort || io.Direction != kvm.ExitIOOut || len(io.Data) != 1 || io.Data[0] != probeAL {
			return res, fmt.Errorf("SYSCALL probe: unexpected I/O exit %+v", io)
		}
		res.works = true
		return res, nil
	case kvm.ExitShutdown:
		return res, nil // the fault at LSTAR: SYSCALL did not reach CPL0
	default:
		return res, fmt.Errorf("SYSCALL probe ended with %s", res.exit)
	}
}
