package virtio

import (
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// Snapshot and restore of a transport (Firecracker-style: pause, save
// every device's state with guest memory, restore into a new process).
//
//	if err := t.Pause(); err != nil { ... }   // workers stopped, device quiet
//	st, err := t.SaveState()                  // gob-encodable
//	...
//	t2, _ := virtio.NewMMIO(dev2, cfg)        // same device type, maybe a new backend
//	if err := t2.RestoreState(st); err != nil { ... } // before the guest runs
//	if err := t2.Resume(); err != nil { ... }
//
// The new transport's notify eventfds and interrupt are wired exactly as
// for a boot (NotifyFDs as ioeventfds, an irqfd as Interrupt): nothing in
// the state refers to host resources.

// MMIOStateVersion is the version of MMIOState this package writes and
// reads.
const MMIOStateVersion = 1

// MMIOState is a transport's state: its registers as the driver wrote
// them, each queue's device-side position, and the device's own state
// (Stateful). It holds no host resource and is gob-encodable.
type MMIOState struct {
	Version    uint32     // MMIOStateVersion
	DeviceType DeviceType // the device ID
	QueueMax   []uint16   // the device's maximum queue sizes (QueueSizes)

	Status         uint32 // the driver's status bits (DEVICE_NEEDS_RESET is NeedsReset)
	NeedsReset     bool
	DevFeaturesSel uint32
	DrvFeaturesSel uint32
	DriverFeatures uint64 // the features the driver accepted (final once FEATURES_OK is set)
	QueueSel       uint32

	InterruptStatus  uint32
	ConfigGeneration uint32

	// Active: the device was activated (DRIVER_OK, a usable queue setup)
	// and its queues' device-side state is in Queues.
	Active bool
	Queues []QueueState // by queue index, one per QueueMax entry

	// Device is the device's own state (Stateful.SaveState); nil when it
	// has none.
	Device []byte
}

// QueueState is one queue's registers and, when the device runs it, its
// device-side position in the rings.
type QueueState struct {
	Num   uint32 // QueueNum as written (any value until DRIVER_OK)
	Ready bool
	Desc  uint64
	Avail uint64 // the driver area
	Used  uint64 // the device area

	// Active: the device runs this queue (MMIOState.Active and Ready);
	// the fields below are meaningful only then.
	Active         bool
	NextAvail      uint16 // the next available-ring entry to take
	NextUsed       uint16 // the used index published last
	Signalled      uint16 // the used index at the last interrupt decision (EVENT_IDX)
	SignalledValid bool
	Broken         bool // the driver corrupted the rings; DEVICE_NEEDS_RESET is set
}

// Pause stops queue processing: the queue workers stop (a request in
// progress completes and is returned first), then a Pauser device quiets
// its own goroutines. Afterwards nothing of the device touches guest
// memory, the used rings or the interrupt until Resume; notifications
// that arrive meanwhile (ioeventfd or QueueNotify) wait in the queues'
// eventfds and are served after Resume. Register accesses still work: a
// device the driver activates while paused starts paused. Pausing a paused
// transport does nothing. The error is the device's failure to quiesce;
// the transport is paused all the same, and SaveState refuses.
func (t *MMIO) Pause() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.paused {
		return nil
	}
	t.paused = true
	t.pauseErr = nil
	if t.act == nil {
		return nil
	}
	t.stopWorkers(t.act)
	if p, ok := t.dev.(Pauser); ok {
		if err := p.Pause(); err != nil {
			t.pauseErr = fmt.Errorf("virtio %s: pausing the device: %w", t.name, err)
			return t.pauseErr
		}
	}
	return nil
}

// Paused reports whether the transport is paused.
func (t *MMIO) Paused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paused
}

// Resume undoes Pause (or starts a restored transport): the device's own
// work and the queue workers start again, and every queue is kicked once,
// so notifications that arrived while paused (or in the snapshot) are
// served. After RestoreState it also raises the used-buffer interrupt
// once, in case the snapshot caught one on its way to the guest (a
// spurious one costs the driver a look at its used rings). Resuming a
// running transport does nothing. The error is host-side (an eventfd or
// the interrupt).
func (t *MMIO) Resume() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if !t.paused {
		return nil
	}
	t.paused, t.pauseErr = false, nil
	a := t.act
	if a == nil {
		t.restored = false
		return nil
	}
	if p, ok := t.dev.(Pauser); ok {
		p.Resume()
	}
	t.startWorkers(a)
	for _, i := range a.run.started {
		if err := t.notify[i].signal(); err != nil {
			return fmt.Errorf("virtio %s queue %d: kicking the worker: %w", t.name, i, err)
		}
	}
	if t.restored {
		t.restored = false
		if len(a.run.started) > 0 {
			return t.raiseVring()
		}
	}
	return nil
}

// SaveState returns the transport's state; the transport must be paused.
// It refuses (and the snapshot must fail) when the device could not
// quiesce, refuses its own state (Stateful), or holds chains it took from
// a queue without returning them: the saved indices would not match guest
// memory.
func (t *MMIO) SaveState() (MMIOState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return MMIOState{}, ErrClosed
	case !t.paused:
		return MMIOState{}, fmt.Errorf("virtio %s: %w", t.name, ErrNotPaused)
	case t.pauseErr != nil:
		return MMIOState{}, t.pauseErr
	}
	st := MMIOState{
		Version:          MMIOStateVersion,
		DeviceType:       t.dev.Type(),
		QueueMax:         append([]uint16(nil), t.sizes...),
		Status:           t.status,
		NeedsReset:       t.needsReset.Load(),
		DevFeaturesSel:   t.devFeatSel,
		DrvFeaturesSel:   t.drvFeatSel,
		DriverFeatures:   t.drvFeatures,
		QueueSel:         t.queueSel,
		InterruptStatus:  t.isr.Load(),
		ConfigGeneration: t.configGen.Load(),
		Active:           t.act != nil,
		Queues:           make([]QueueState, len(t.queues)),
	}
	for i, r := range t.queues {
		qs := QueueState{Num: r.num, Ready: r.ready, Desc: r.desc, Avail: r.avail, Used: r.used}
		if t.act != nil {
			if q := t.act.ctx.Queues[i]; q != nil {
				q.save(&qs)
				if !qs.Broken && qs.NextAvail != qs.NextUsed {
					return MMIOState{}, fmt.Errorf("virtio %s queue %d: the device holds %d chains it took (next avail %d, used %d)",
						t.name, i, qs.NextAvail-qs.NextUsed, qs.NextAvail, qs.NextUsed)
				}
			}
		}
		st.Queues[i] = qs
	}
	if s, ok := t.dev.(Stateful); ok {
		b, err := s.SaveState()
		if err != nil {
			return MMIOState{}, fmt.Errorf("virtio %s: %w", t.name, err)
		}
		st.Device = b
	}
	return st, nil
}

// RestoreState gives a new transport (the driver has not touched it) the
// state st saved from another one, before the guest runs. The device must
// be of the same type with the same queues, and offer every feature the
// driver accepted; its backend may differ (a Stateful device checks what
// it must). When the driver had set DRIVER_OK the device is activated
// with its queues where they were, paused: Resume starts it. On an error
// nothing is restored that the transport's Close would not undo; close it.
func (t *MMIO) RestoreState(st MMIOState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.status != 0 || t.act != nil || t.restored {
		return fmt.Errorf("virtio %s: RestoreState needs a transport the driver has not used", t.name)
	}
	if err := t.checkState(&st); err != nil {
		return fmt.Errorf("virtio %s: %w: %v", t.name, ErrBadState, err)
	}
	if s, ok := t.dev.(Stateful); ok {
		if err := s.RestoreState(st.Device); err != nil {
			return fmt.Errorf("virtio %s: %w", t.name, err)
		}
	} else if len(st.Device) != 0 {
		return fmt.Errorf("virtio %s: %w: %d bytes of device state for a device that keeps none", t.name, ErrBadState, len(st.Device))
	}
	t.status, t.devFeatSel, t.drvFeatSel, t.drvFeatures, t.queueSel = st.Status, st.DevFeaturesSel, st.DrvFeaturesSel, st.DriverFeatures, st.QueueSel
	for i, q := range st.Queues {
		t.queues[i] = queueRegs{num: q.Num, ready: q.Ready, desc: q.Desc, avail: q.Avail, used: q.Used}
	}
	t.needsReset.Store(st.NeedsReset)
	t.isr.Store(st.InterruptStatus)
	t.configGen.Store(st.ConfigGeneration)
	t.paused, t.pauseErr = true, nil
	if !st.Active {
		return nil
	}
	ctx := &ActivationContext{Mem: t.mem, Features: t.drvFeatures, Queues: make([]*Queue, len(t.queues)), Paused: true, t: t}
	for i, qs := range st.Queues {
		if !qs.Active {
			continue
		}
		q := newQueue(t.mem, qs.config(), t.drvFeatures, t.raiseVring, t.needsResetOrReport, &t.counters)
		q.restore(&qs)
		ctx.Queues[i] = q
	}
	if err := t.dev.Activate(ctx); err != nil {
		t.resetRegs()
		return fmt.Errorf("virtio %s: activating the restored device: %w", t.name, err)
	}
	t.act = &activation{ctx: ctx}
	t.restored = true
	return nil
}

// statusKnown are the status bits a driver can have set.
const statusKnown = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED

// checkState validates st against this transport's device and guest
// memory: everything a corrupt or foreign snapshot could get wrong that
// the transport relies on.
func (t *MMIO) checkState(st *MMIOState) error {
	if st.Version != MMIOStateVersion {
		return fmt.Errorf("state version %d, want %d", st.Version, MMIOStateVersion)
	}
	if st.DeviceType != t.dev.Type() {
		return fmt.Errorf("saved from device type %d, this is device type %d", st.DeviceType, t.dev.Type())
	}
	if len(st.QueueMax) != len(t.sizes) || len(st.Queues) != len(t.sizes) {
		return fmt.Errorf("%d queues (%d queue states) saved, the device has %d", len(st.QueueMax), len(st.Queues), len(t.sizes))
	}
	for i, s := range st.QueueMax {
		if s != t.sizes[i] {
			return fmt.Errorf("queue %d: saved maximum size %d, the device's is %d", i, s, t.sizes[i])
		}
	}
	if st.Status&^statusKnown != 0 {
		return fmt.Errorf("status %#x has unknown bits", st.Status)
	}
	for i, step := range statusSteps {
		if st.Status&step == 0 {
			continue
		}
		for _, before := range statusSteps[:i] {
			if st.Status&before == 0 {
				return fmt.Errorf("status %#x: step %#x without %#x", st.Status, step, before)
			}
		}
	}
	if st.Status&VIRTIO_CONFIG_S_FEATURES_OK != 0 {
		if miss := st.DriverFeatures &^ t.offered; miss != 0 {
			return fmt.Errorf("the driver accepted features %#x this device does not offer (it offers %#x)", miss, t.offered)
		}
		if st.DriverFeatures&Bit(VIRTIO_F_VERSION_1) == 0 {
			return fmt.Errorf("FEATURES_OK without VIRTIO_F_VERSION_1 (features %#x)", st.DriverFeatures)
		}
	}
	if st.InterruptStatus&^(VIRTIO_MMIO_INT_VRING|VIRTIO_MMIO_INT_CONFIG) != 0 {
		return fmt.Errorf("interrupt status %#x has unknown bits", st.InterruptStatus)
	}
	if st.Active && st.Status&VIRTIO_CONFIG_S_DRIVER_OK == 0 {
		return fmt.Errorf("device active without DRIVER_OK (status %#x)", st.Status)
	}
	if !st.Active && st.Status&VIRTIO_CONFIG_S_DRIVER_OK != 0 && !st.NeedsReset {
		// Activation fails only with DEVICE_NEEDS_RESET.
		return fmt.Errorf("DRIVER_OK (status %#x) with the device neither active nor needing a reset", st.Status)
	}
	for i, q := range st.Queues {
		if q.Active != (st.Active && q.Ready) {
			return fmt.Errorf("queue %d: active %v, ready %v, device active %v", i, q.Active, q.Ready, st.Active)
		}
		if !q.Active {
			if q.NextAvail != 0 || q.NextUsed != 0 || q.Signalled != 0 || q.SignalledValid || q.Broken {
				return fmt.Errorf("queue %d: ring positions for a queue the device does not run", i)
			}
			continue
		}
		if q.Num > MaxQueueSize {
			return fmt.Errorf("queue %d: %w: size %d", i, ErrBadQueue, q.Num)
		}
		if err := q.config().Validate(t.mem, t.sizes[i]); err != nil {
			return fmt.Errorf("queue %d: %w", i, err)
		}
		if !q.Broken && q.NextAvail != q.NextUsed {
			return fmt.Errorf("queue %d: %d chains taken and not returned (next avail %d, used %d)",
				i, q.NextAvail-q.NextUsed, q.NextAvail, q.NextUsed)
		}
	}
	return nil
}

// config is the queue setup of a saved queue whose Num was checked to fit
// 16 bits.
func (q *QueueState) config() QueueConfig {
	return QueueConfig{Size: uint16(q.Num), Desc: guestmem.GPA(q.Desc), Avail: guestmem.GPA(q.Avail), Used: guestmem.GPA(q.Used)}
}

// save records the queue's device-side position. The queue's worker is
// stopped.
func (q *Queue) save(s *QueueState) {
	s.Active = true
	s.NextAvail, s.NextUsed = q.nextAvail, q.nextUsed
	s.Signalled, s.SignalledValid = q.signalled, q.signalledValid
	s.Broken = q.broken
}

// restore puts a new queue where a saved one was. avail.idx is read
// afresh at the first Pop.
func (q *Queue) restore(s *QueueState) {
	q.nextAvail, q.availCache, q.nextUsed = s.NextAvail, s.NextAvail, s.NextUsed
	q.signalled, q.signalledValid = s.Signalled, s.SignalledValid
	q.broken = s.Broken
}
