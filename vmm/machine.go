package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/devices"
	"github.com/hullvm/hull/devices/boottimer"
	"github.com/hullvm/hull/devices/exitport"
	"github.com/hullvm/hull/devices/i8042"
	"github.com/hullvm/hull/devices/uart"
	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/hostcheck"
	"github.com/hullvm/hull/kvm"
)

// Fixed platform addresses of the legacy devices (DESIGN.md §3).
const (
	serialPort     = 0x3f8
	serialPortSize = 8
	serialIRQ      = 4
	i8042Port      = 0x60
	i8042PortSize  = 5 // 0x60 data .. 0x64 command/status
	exitPortBase   = 0xf4
	exitPortSize   = 4
	kvmAPIVersion  = 12
)

// stopDiagnoseAfter is how long vCPUs may take to leave KVM_RUN after a
// stop before the VMM dumps its goroutines to stderr for diagnosis.
const stopDiagnoseAfter = 10 * time.Second

// ErrNoKVM is matched when /dev/kvm is missing or unusable.
var ErrNoKVM = errors.New("no usable KVM on this host (run `hull check` for details)")

// machine is one built VM.
type machine struct {
	cfg   Config
	sys   *kvm.System
	vm    *kvm.VM
	mem   *guestmem.Memory
	vcpus []*vcpu
	irqs  []*irqLine
	pio   *devices.Bus
	mmio  *devices.Bus
	h     *exitHandler
	rec   *recorder
	boot  *boot.Result

	stopOnce  sync.Once
	stopping  atomic.Bool
	pausing   atomic.Bool // vmm/vm.go: vCPU loops park while set
	pauseOnce sync.Once
	pz        pauser
	stopped   chan struct{}
	exit      *Exit

	virtio []*virtioDev // vmm/virtio.go

	serial    *uart.UART
	kbd       *i8042.I8042
	cpuidHash string     // vmm/vcpu.go: the vCPUs' CPU features, for snapshots
	snapMu    sync.Mutex // one snapshot at a time
}

// Run builds the VM described by cfg and runs it until it stops: the guest
// stops it, a vCPU fails, or ctx is cancelled. An error means the VM could
// not be built; how a VM that ran stopped is in *Exit.
func Run(ctx context.Context, cfg Config) (*Exit, error) {
	v, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return v.Wait(), nil
}

func build(c Config) (*machine, error) {
	return buildWith(c, (*machine).loadGuest, func(m *machine) error {
		m.rec.mark(EventVMCreated)
		return nil
	})
}

// buildWith builds a machine: the virtio backends, guest RAM through
// load (a kernel loaded, or a snapshot's memory mapped), KVM, the devices
// and the vCPUs, then finish. Whatever fails, nothing of it stays open.
func buildWith(c Config, load, finish func(*machine) error) (*machine, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &machine{cfg: cfg, rec: newRecorder(cfg.Start), stopped: make(chan struct{})}
	built := false
	defer func() {
		if !built {
			_ = m.close() // the build error is the one to report
		}
	}()

	// Guest RAM and the boot structures need no KVM: doing them first makes
	// a bad kernel, initrd or command line fail the same way on every host.
	// The mappings are lazy, so this costs nothing when KVM then fails.
	// The same goes for the virtio backends (disk files).
	if err := m.openVirtio(); err != nil {
		return nil, err
	}
	if err := load(m); err != nil {
		return nil, err
	}
	if cfg.CheckHost != nil {
		if err := cfg.CheckHost(cfg.KVMPath); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoKVM, err)
		}
	}
	if err := m.openKVM(); err != nil {
		return nil, err
	}
	for i, r := range m.mem.Regions() {
		if err := m.vm.SetUserMemoryRegion(uint32(i), uint64(r.Base), r.Host, 0); err != nil {
			return nil, fmt.Errorf("guest RAM slot %d: %w", i, err)
		}
	}
	if err := m.addDevices(); err != nil {
		return nil, err
	}
	if err := m.attachVirtio(); err != nil {
		return nil, err
	}
	if err := m.createVCPUs(); err != nil {
		return nil, err
	}
	if err := finish(m); err != nil {
		return nil, err
	}
	built = true
	return m, nil
}

// loadGuest creates guest RAM and writes the kernel, initrd and boot
// structures into it.
func (m *machine) loadGuest() error {
	kernel, err := os.Open(m.cfg.Kernel)
	if err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	defer kernel.Close()
	cmdline, err := m.kernelCmdline()
	if err != nil {
		return err
	}
	bc := boot.Config{Kernel: kernel, Cmdline: cmdline, CPUs: m.cfg.CPUs}
	if m.cfg.Initrd != "" {
		initrd, err := os.Open(m.cfg.Initrd)
		if err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		defer initrd.Close()
		st, err := initrd.Stat()
		if err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		bc.Initrd, bc.InitrdSize = initrd, st.Size()
	}
	ranges, err := boot.MemoryRanges(uint64(m.cfg.MemMiB) << 20)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if m.mem, err = guestmem.NewMmap(ranges...); err != nil {
		return err
	}
	if m.boot, err = boot.Setup(m.mem, bc); err != nil {
		return fmt.Errorf("boot %s: %w", m.cfg.Kernel, err)
	}
	return nil
}

func (m *machine) openKVM() error {
	sys, err := kvm.Open(m.cfg.KVMPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoKVM, err)
	}
	m.sys = sys
	v, err := sys.APIVersion()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoKVM, err)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("%w: KVM API version %d, hull needs %d", ErrNoKVM, v, kvmAPIVersion)
	}
	var missing []string
	for _, rc := range hostcheck.RequiredCaps {
		if n, err := sys.CheckExtension(rc.Cap); err != nil || n <= 0 {
			missing = append(missing, rc.Cap.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %v", ErrNoKVM, missing)
	}
	if m.vm, err = sys.CreateVM(); err != nil {
		return err
	}
	if err := m.vm.SetTSSAddr(uint64(boot.KVMTSSAddr)); err != nil {
		return err
	}
	if err := m.vm.CreateIRQChip(); err != nil {
		return err
	}
	return m.vm.CreatePIT2()
}

// addDevices puts the legacy devices on the buses.
func (m *machine) addDevices() error {
	m.pio, m.mmio = devices.NewBus("pio"), devices.NewBus("mmio")
	m.h = &exitHandler{pio: m.pio, mmio: m.mmio}

	serialIRQLine, err := newIRQLine(m.vm, serialIRQ)
	if err != nil {
		return err
	}
	m.irqs = append(m.irqs, serialIRQLine)
	console := m.cfg.Console
	if m.cfg.ReadyMarker != "" {
		console = newMarkerWriter(console, m.cfg.ReadyMarker, func() { m.rec.mark(EventReady) })
	}
	serial := uart.New(serialIRQLine, console)
	m.serial = serial
	serial.OnFirstOutput = func() { m.rec.mark(EventFirstSerial) }
	if err := m.pio.Insert(serialPort, serialPortSize, serial, "serial"); err != nil {
		return err
	}
	if m.cfg.ConsoleIn != nil {
		go feed(serial, m.cfg.ConsoleIn, m.stopped)
	}
	kbd := i8042.New(func() {
		m.stop(&Exit{Reason: ReasonReset, Message: "guest reset through the i8042 controller", VCPU: -1})
	})
	m.kbd = kbd
	if err := m.pio.Insert(i8042Port, i8042PortSize, kbd, "i8042"); err != nil {
		return err
	}
	if m.cfg.TestExitPort {
		ep := exitport.New(func(code uint32) {
			m.stop(&Exit{Reason: ReasonGuestExit, Code: int(code),
				Message: fmt.Sprintf("test guest exited with code %d", code), VCPU: -1})
		})
		if err := m.pio.Insert(exitPortBase, exitPortSize, ep, "exit port"); err != nil {
			return err
		}
	}
	bt := boottimer.New(func(t time.Time) { m.rec.markAt(EventBootTimer, t) })
	return m.mmio.Insert(uint64(boot.BootTimerAddr), 0x1000, bt, "boot timer")
}

// feed copies serial input until the VM stops. A blocking Read cannot be
// interrupted, so the goroutine ends at the next input after the stop.
func feed(u *uart.UART, r io.Reader, stopped <-chan struct{}) {
	buf := make([]byte, 256)
	for {
		n, err := r.Read(buf)
		select {
		case <-stopped:
			return
		default:
		}
		if n > 0 {
			u.Input(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// stop records the first stop request and tells every vCPU to leave KVM_RUN.
func (m *machine) stop(e *Exit) {
	m.stopOnce.Do(func() {
		m.exit = e
		m.stopping.Store(true)
		close(m.stopped)
		for _, c := range m.vcpus {
			c.kick()
		}
		m.unparkAll()
	})
}

func (m *machine) run(ctx context.Context) *Exit {
	var wg sync.WaitGroup
	for _, c := range m.vcpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-m.stopped:
	case <-ctx.Done():
		m.stop(&Exit{Reason: ReasonCancelled, Message: context.Cause(ctx).Error(), VCPU: -1})
	case <-done: // every vCPU returned without a stop: cannot happen, but never hang
		m.stop(&Exit{Reason: ReasonInternalError, Message: "all vCPUs stopped without a reason", VCPU: -1})
	}
	// A kick can race with a vCPU entering KVM_RUN; immediate_exit covers
	// that, and repeating the kick until every vCPU is out covers the rest.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	stuck := time.After(stopDiagnoseAfter)
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			for _, c := range m.vcpus {
				c.kick()
			}
		case <-stuck:
			// A vCPU that does not leave KVM_RUN when kicked is a VMM bug
			// (a device call that blocks); say where everything is, once.
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "hull: vCPUs still running %v after the VM was told to stop (%s); goroutines:\n%s\n",
				stopDiagnoseAfter, m.exit, buf)
		}
	}
	m.rec.mark(EventStopped)
	exit := *m.exit
	if exit.Reason == ReasonCancelled {
		// Where a VM stopped from outside was: what a hung guest was doing.
		for _, c := range m.vcpus {
			exit.Message += ";" + c.where()
		}
	}
	exit.Timeline = m.rec.timeline()
	// Measured before teardown, while guest RAM is still mapped.
	if ms, err := measureMemory(m.mem); err == nil {
		exit.Memory = ms
	} else {
		m.cfg.Log.Warn("measuring VMM memory", "err", err)
	}
	return &exit
}

func (m *machine) close() error {
	errs := []error{m.closeVirtio()}
	for _, c := range m.vcpus {
		errs = append(errs, c.cpu.Close())
	}
	for _, l := range m.irqs {
		errs = append(errs, l.close(m.vm))
	}
	if m.vm != nil {
		errs = append(errs, m.vm.Close())
	}
	if m.mem != nil {
		errs = append(errs, m.mem.Close())
	}
	if m.sys != nil {
		errs = append(errs, m.sys.Close())
	}
	return errors.Join(errs...)
}
