package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hullvm/hull/guestmem"
)

// transportFeatures are the feature bits the transport itself offers.
const transportFeatures = 1<<VIRTIO_F_VERSION_1 | 1<<VIRTIO_RING_F_EVENT_IDX | 1<<VIRTIO_RING_F_INDIRECT_DESC

// statusSteps are the driver's initialisation steps (§3.1.1) in order.
var statusSteps = [...]uint32{
	VIRTIO_CONFIG_S_ACKNOWLEDGE,
	VIRTIO_CONFIG_S_DRIVER,
	VIRTIO_CONFIG_S_FEATURES_OK,
	VIRTIO_CONFIG_S_DRIVER_OK,
}

// MMIOConfig is what a transport needs besides its device.
type MMIOConfig struct {
	Mem       *guestmem.Memory
	Interrupt Interrupt
	// OnError receives host-side failures from the queue workers (interrupt
	// or eventfd errors, device backend failures the device cannot turn
	// into a guest-visible status); the VMM stops the VM. Nil drops them.
	OnError func(error)
	// Name appears in errors ("blk0", "rng").
	Name string
}

// MMIO is a virtio-mmio transport, version 2 (virtio 1.x §4.2.2), around
// one Device. It satisfies devices.Device: the VMM puts it on the MMIO bus
// with a window of MMIOSize bytes.
//
// Concurrency: Read and Write are called from any vCPU goroutine. Register
// state is under mu; what the queue workers touch (InterruptStatus,
// NEEDS_RESET, the configuration generation) is atomic, so a worker never
// waits for mu and a reset can wait for the workers while holding it.
type MMIO struct {
	dev     Device
	mem     *guestmem.Memory
	irq     Interrupt
	onError func(error)
	name    string
	sizes   []uint16 // maximum size of each queue
	offered uint64
	notify  []*notifier // one per queue, for the transport's lifetime

	mu          sync.Mutex
	status      uint32 // the driver's status bits (NEEDS_RESET is separate)
	devFeatSel  uint32
	drvFeatSel  uint32
	drvFeatures uint64
	queueSel    uint32
	queues      []queueRegs
	act         *activation // non-nil from DRIVER_OK to reset
	closed      bool
	// paused: between Pause (or RestoreState) and Resume no worker runs
	// and a Pauser device is paused (state.go). pauseErr is the device's
	// failure to pause, which SaveState reports. restored: the state came
	// from RestoreState; Resume raises the used-buffer interrupt once.
	paused   bool
	pauseErr error
	restored bool

	needsReset atomic.Bool
	isr        atomic.Uint32
	configGen  atomic.Uint32
	counters   Counters
}

// queueRegs is one queue's registers as the driver wrote them.
type queueRegs struct {
	num               uint32
	desc, avail, used uint64
	ready             bool
}

// NewMMIO returns a transport for dev. Close releases its eventfds.
func NewMMIO(dev Device, cfg MMIOConfig) (*MMIO, error) {
	if cfg.Mem == nil || cfg.Interrupt == nil {
		return nil, errors.New("virtio: NewMMIO needs guest memory and an interrupt")
	}
	sizes := dev.QueueSizes()
	for i, s := range sizes {
		if s == 0 || s > MaxQueueSize || s&(s-1) != 0 {
			return nil, fmt.Errorf("virtio: %s queue %d: maximum size %d is not a power of two in 1..%d", cfg.Name, i, s, MaxQueueSize)
		}
	}
	t := &MMIO{
		dev:     dev,
		mem:     cfg.Mem,
		irq:     cfg.Interrupt,
		onError: cfg.OnError,
		name:    cfg.Name,
		sizes:   sizes,
		offered: dev.Features() | transportFeatures,
	}
	for range sizes {
		n, err := newNotifier()
		if err != nil {
			_ = t.closeNotifiers() // the eventfd error is the one to report
			return nil, err
		}
		t.notify = append(t.notify, n)
	}
	t.resetRegs()
	return t, nil
}

// NotifyFDs returns each queue's notification eventfd, by queue index, for
// the VMM to register as ioeventfds (a 4-byte write of the index at
// QueueNotifyOffset). They stay open until Close; unregister them first.
func (t *MMIO) NotifyFDs() []int {
	fds := make([]int, len(t.notify))
	for i, n := range t.notify {
		fds[i] = n.fd
	}
	return fds
}

// Counters returns the transport's guest-error and activity counters.
func (t *MMIO) Counters() *Counters { return &t.counters }

// Close stops the device's workers, resets the device and closes the
// eventfds. Register accesses after Close are ignored.
func (t *MMIO) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.deactivate()
	t.closed = true
	return t.closeNotifiers()
}

func (t *MMIO) closeNotifiers() error {
	var errs []error
	for _, n := range t.notify {
		errs = append(errs, n.close())
	}
	return errors.Join(errs...)
}

// Read handles a guest read at off in the device's window.
func (t *MMIO) Read(off uint64, data []byte) {
	if off >= regConfig {
		t.dev.ReadConfig(off-regConfig, data)
		return
	}
	if len(data) != 4 || off%4 != 0 {
		t.counters.BadRegister.Add(1) // §4.2.2.2: registers are accessed 32 bits wide
		clear(data)
		return
	}
	binary.LittleEndian.PutUint32(data, t.readReg(off))
}

func (t *MMIO) readReg(off uint64) uint32 {
	switch off {
	case regMagicValue:
		return mmioMagic
	case regVersion:
		return mmioVersion
	case regDeviceID:
		return uint32(t.dev.Type())
	case regVendorID:
		return VendorID
	case regInterruptStatus:
		return t.isr.Load()
	case regConfigGeneration:
		return t.configGen.Load()
	case regSHMLenLow, regSHMLenHigh:
		return ^uint32(0) // no shared memory regions (§4.2.2: length -1)
	case regSHMBaseLow, regSHMBaseHigh, regQueueReset:
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch off {
	case regDeviceFeatures:
		if t.devFeatSel > 1 {
			return 0
		}
		return uint32(t.offered >> (32 * t.devFeatSel))
	case regQueueNumMax:
		if int(t.queueSel) >= len(t.sizes) {
			return 0
		}
		return uint32(t.sizes[t.queueSel])
	case regQueueReady:
		if q := t.selected(); q != nil && q.ready {
			return 1
		}
		return 0
	case regStatus:
		s := t.status
		if t.needsReset.Load() {
			s |= VIRTIO_CONFIG_S_NEEDS_RESET
		}
		return s
	}
	t.counters.BadRegister.Add(1) // write-only or unknown register
	return 0
}

// Write handles a guest write at off in the device's window.
func (t *MMIO) Write(off uint64, data []byte) {
	if off >= regConfig {
		t.dev.WriteConfig(off-regConfig, data)
		return
	}
	if len(data) != 4 || off%4 != 0 {
		t.counters.BadRegister.Add(1)
		return
	}
	v := binary.LittleEndian.Uint32(data)
	switch off {
	case regQueueNotify:
		// The path without ioeventfd: same eventfd, same worker.
		if v < uint32(len(t.notify)) {
			t.counters.DirectNotify.Add(1)
			if err := t.notify[v].signal(); err != nil {
				t.hostError(fmt.Errorf("virtio %s queue %d: notify: %w", t.name, v, err))
			}
		} else {
			t.counters.BadRegister.Add(1)
		}
		return
	case regInterruptACK:
		t.isr.And(^v)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !t.writeReg(off, v) {
		t.counters.BadRegister.Add(1)
	}
}

// writeReg applies a register write under mu; false means the write was
// ignored (unknown register, or not allowed in the current state).
func (t *MMIO) writeReg(off uint64, v uint32) bool {
	switch off {
	case regDeviceFeaturesSel:
		t.devFeatSel = v
		return true
	case regDriverFeaturesSel:
		t.drvFeatSel = v
		return true
	case regDriverFeatures:
		// Only between DRIVER and FEATURES_OK (§3.1.1 steps 4-5).
		if t.status&VIRTIO_CONFIG_S_DRIVER == 0 || t.status&VIRTIO_CONFIG_S_FEATURES_OK != 0 || t.drvFeatSel > 1 {
			return false
		}
		shift := 32 * t.drvFeatSel
		t.drvFeatures = t.drvFeatures&^(0xffffffff<<shift) | uint64(v)<<shift
		return true
	case regQueueSel:
		t.queueSel = v
		return true
	case regStatus:
		return t.writeStatus(v)
	case regSHMSel:
		return true // no regions; reads say so
	}
	// The queue registers: only during queue setup (after FEATURES_OK,
	// before DRIVER_OK, §3.1.1 step 7), for an existing queue.
	q := t.selected()
	if q == nil || t.status&(VIRTIO_CONFIG_S_FEATURES_OK|VIRTIO_CONFIG_S_DRIVER_OK) != VIRTIO_CONFIG_S_FEATURES_OK {
		return false
	}
	if off == regQueueReady {
		q.ready = v&1 != 0
		return true
	}
	if q.ready {
		return false // §4.2.2.3: no changes to a queue the driver enabled
	}
	switch off {
	case regQueueNum:
		q.num = v
	case regQueueDescLow:
		q.desc = q.desc&^0xffffffff | uint64(v)
	case regQueueDescHigh:
		q.desc = q.desc&0xffffffff | uint64(v)<<32
	case regQueueDriverLow:
		q.avail = q.avail&^0xffffffff | uint64(v)
	case regQueueDriverHigh:
		q.avail = q.avail&0xffffffff | uint64(v)<<32
	case regQueueDeviceLow:
		q.used = q.used&^0xffffffff | uint64(v)
	case regQueueDeviceHigh:
		q.used = q.used&0xffffffff | uint64(v)<<32
	default:
		return false
	}
	return true
}

func (t *MMIO) selected() *queueRegs {
	if t.queueSel >= uint32(len(t.queues)) {
		return nil
	}
	return &t.queues[t.queueSel]
}

// writeStatus applies the device status state machine (§2.1, §3.1.1): 0
// resets; otherwise the driver may only add bits, one initialisation step
// after the other. FEATURES_OK is refused (stays clear) unless the accepted
// features are a subset of the offered ones and include VIRTIO_F_VERSION_1.
func (t *MMIO) writeStatus(v uint32) bool {
	if v == 0 {
		t.reset()
		return true
	}
	v &^= VIRTIO_CONFIG_S_NEEDS_RESET // the device's bit; ignore the driver's echo of it
	if v&t.status != t.status {
		return false // clearing bits other than by reset
	}
	add := v &^ t.status
	if add&VIRTIO_CONFIG_S_FAILED != 0 {
		t.status |= VIRTIO_CONFIG_S_FAILED // the driver gave up; keep running until reset
		add &^= VIRTIO_CONFIG_S_FAILED
	}
	for i, step := range statusSteps {
		if add&step == 0 {
			continue
		}
		add &^= step
		for _, before := range statusSteps[:i] {
			if t.status&before == 0 {
				return false // a step skipped
			}
		}
		switch step {
		case VIRTIO_CONFIG_S_FEATURES_OK:
			if t.drvFeatures&^t.offered != 0 || t.drvFeatures&Bit(VIRTIO_F_VERSION_1) == 0 {
				return true // refused: the driver reads FEATURES_OK back as clear
			}
		case VIRTIO_CONFIG_S_DRIVER_OK:
			t.status |= step
			t.activate()
			continue
		}
		t.status |= step
	}
	return add == 0 // unknown bits
}

// activate builds the queues and starts the device (DRIVER_OK). A queue
// setup the device cannot use marks it DEVICE_NEEDS_RESET.
func (t *MMIO) activate() {
	ctx := &ActivationContext{Mem: t.mem, Features: t.drvFeatures, Queues: make([]*Queue, len(t.queues)), Paused: t.paused, t: t}
	for i, r := range t.queues {
		if !r.ready {
			continue
		}
		cfg := QueueConfig{Size: uint16(r.num), Desc: guestmem.GPA(r.desc), Avail: guestmem.GPA(r.avail), Used: guestmem.GPA(r.used)}
		err := cfg.Validate(t.mem, t.sizes[i])
		if r.num > MaxQueueSize {
			err = fmt.Errorf("%w: size %d", ErrBadQueue, r.num)
		}
		if err != nil {
			t.needsResetOrReport()
			return
		}
		ctx.Queues[i] = newQueue(t.mem, cfg, t.drvFeatures, t.raiseVring, t.needsResetOrReport, &t.counters)
	}
	if err := t.dev.Activate(ctx); err != nil {
		t.needsResetOrReport()
		return
	}
	a := &activation{ctx: ctx}
	if !t.paused {
		t.startWorkers(a)
	}
	t.act = a
}

// deactivate stops the workers and resets the device, if it was active.
func (t *MMIO) deactivate() {
	if t.act == nil {
		return
	}
	t.stopWorkers(t.act)
	t.act = nil
	t.restored = false
	t.dev.Reset()
}

// reset is a write of 0 to Status (§2.1.2, §4.2.2.1): the device stops and
// every register returns to its initial value; InterruptStatus and the
// queues' ready bits read 0.
func (t *MMIO) reset() {
	t.deactivate()
	t.resetRegs()
}

func (t *MMIO) resetRegs() {
	t.status, t.devFeatSel, t.drvFeatSel, t.drvFeatures, t.queueSel = 0, 0, 0, 0, 0
	t.queues = make([]queueRegs, len(t.sizes))
	for i, s := range t.sizes {
		t.queues[i].num = uint32(s)
	}
	t.needsReset.Store(false)
	t.isr.Store(0)
}

// raise sets bit in InterruptStatus and triggers the interrupt.
func (t *MMIO) raise(bit uint32) error {
	t.isr.Or(bit)
	t.counters.Interrupts.Add(1)
	if err := t.irq.Trigger(); err != nil {
		return fmt.Errorf("virtio %s: interrupt: %w", t.name, err)
	}
	return nil
}

func (t *MMIO) raiseVring() error { return t.raise(VIRTIO_MMIO_INT_VRING) }

// setNeedsReset sets DEVICE_NEEDS_RESET and, once the driver is running,
// raises a configuration-change interrupt (§2.1.2).
func (t *MMIO) setNeedsReset() error {
	if t.needsReset.Swap(true) {
		return nil
	}
	t.counters.NeedsReset.Add(1)
	return t.raise(VIRTIO_MMIO_INT_CONFIG)
}

func (t *MMIO) needsResetOrReport() {
	if err := t.setNeedsReset(); err != nil {
		t.hostError(err)
	}
}

func (t *MMIO) hostError(err error) {
	if t.onError != nil {
		t.onError(err)
	}
}
