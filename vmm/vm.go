package vmm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/vmm/api"
)

// VM is a running microVM: Start returns it, Wait returns how it stopped.
// Between the two it can be paused, resumed, stopped and (paused)
// snapshotted, from any goroutine; the control socket (package vmm/api)
// serves these operations to other processes.
type VM struct {
	m      *machine
	cancel context.CancelCauseFunc
	done   chan struct{}
	exit   *Exit
	start  time.Time
}

// VM states, as Status reports them.
const (
	StateRunning = "running"
	StatePaused  = "paused"
	StateStopped = "stopped"
)

// pauseTimeout bounds how long Pause waits for every vCPU to leave KVM_RUN.
const pauseTimeout = 5 * time.Second

// ErrStopped is matched by operations on a VM that has stopped.
var ErrStopped = errors.New("the VM has stopped")

// Start builds the VM described by cfg and starts its vCPUs. An error means
// the VM could not be built. The VM runs until the guest stops it, a vCPU
// fails, ctx is cancelled or Stop is called; Wait says how it stopped.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	m, err := build(cfg)
	if err != nil {
		return nil, err
	}
	return m.startVM(ctx), nil
}

func (m *machine) startVM(ctx context.Context) *VM {
	ctx, cancel := context.WithCancelCause(ctx)
	v := &VM{m: m, cancel: cancel, done: make(chan struct{}), start: time.Now()}
	go func() {
		v.exit = m.run(ctx)
		// A snapshot in progress reads guest RAM and device state: the
		// machine goes once it is done.
		m.snapMu.Lock()
		defer m.snapMu.Unlock()
		if err := m.close(); err != nil {
			m.cfg.Log.Warn("releasing VM resources", "err", err)
		}
		cancel(nil)
		close(v.done)
	}()
	return v
}

// Wait waits until the VM has stopped and its resources are released, and
// says how it stopped.
func (v *VM) Wait() *Exit {
	<-v.done
	return v.exit
}

// Done is closed when the VM has stopped and its resources are released.
func (v *VM) Done() <-chan struct{} { return v.done }

// Stop stops the VM (ReasonCancelled) without waiting; Wait then returns.
func (v *VM) Stop() error {
	v.cancel(errors.New("stopped by request"))
	return nil
}

// Status is what the VM is doing (StateRunning, StatePaused, StateStopped).
type Status = api.Status

// Status reports the VM's state.
func (v *VM) Status() Status {
	s := Status{State: StateRunning, CPUs: v.m.cfg.CPUs, MemMiB: v.m.cfg.MemMiB, Uptime: time.Since(v.start)}
	select {
	case <-v.done:
		s.State, s.Exit = StateStopped, v.exit.String()
		return s
	default:
	}
	if v.m.isPaused() {
		s.State = StatePaused
	}
	return s
}

// Pause stops every vCPU outside KVM_RUN and keeps it there until Resume.
// Devices go on serving requests already made. Pausing a paused VM is no
// error.
func (v *VM) Pause() error { return stateErr(v.m.pause()) }

// Resume lets the vCPUs of a paused VM run again. Resuming a running VM is
// no error.
func (v *VM) Resume() error {
	// Not while a snapshot is being taken: the vCPUs must stay put.
	v.m.snapMu.Lock()
	defer v.m.snapMu.Unlock()
	return stateErr(v.m.resume())
}

// stateErr makes ErrStopped match api.ErrState too (HTTP 409).
func stateErr(err error) error {
	if errors.Is(err, ErrStopped) {
		return fmt.Errorf("%w (%w)", ErrStopped, api.ErrState)
	}
	return err
}

var _ api.Controller = (*VM)(nil)

// pauser is the machine's pause state: vCPU loops park in it.
type pauser struct {
	mu     sync.Mutex
	cond   *sync.Cond
	want   bool // a pause was asked for and not yet undone
	parked int  // vCPU loops waiting in park
	gone   int  // vCPU loops that returned (VM stopping)
}

func (m *machine) pauseState() *pauser {
	m.pauseOnce.Do(func() { m.pz.cond = sync.NewCond(&m.pz.mu) })
	return &m.pz
}

func (m *machine) isPaused() bool {
	p := m.pauseState()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.want && p.parked+p.gone == len(m.vcpus)
}

func (m *machine) pause() error {
	if m.stopping.Load() {
		return ErrStopped
	}
	p := m.pauseState()
	p.mu.Lock()
	p.want = true
	m.pausing.Store(true)
	p.mu.Unlock()
	for _, c := range m.vcpus {
		c.kick()
	}
	// Wait for every loop to park; repeat the kick (one can race with a
	// vCPU entering KVM_RUN before it sees the request).
	deadline := time.Now().Add(pauseTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		p.mu.Lock()
		n := p.parked + p.gone
		p.mu.Unlock()
		if m.stopping.Load() {
			return ErrStopped
		}
		if n == len(m.vcpus) {
			return nil
		}
		if time.Now().After(deadline) {
			m.resume()
			return fmt.Errorf("pause: %d of %d vCPUs did not leave the guest within %v", len(m.vcpus)-n, len(m.vcpus), pauseTimeout)
		}
		<-tick.C
		for _, c := range m.vcpus {
			c.kick()
		}
	}
}

func (m *machine) resume() error {
	if m.stopping.Load() {
		return ErrStopped
	}
	p := m.pauseState()
	p.mu.Lock()
	p.want = false
	m.pausing.Store(false)
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// park holds the calling vCPU loop while a pause is asked for. It clears
// immediate_exit, which the pause's kick set, before the vCPU runs again.
//
// First it re-enters KVM_RUN once with immediate_exit set: KVM finishes an
// I/O or MMIO instruction whose exit the loop just handled only on the next
// KVM_RUN, and returns at once. Without it the vCPU's saved state would
// be in the middle of that instruction.
func (c *vcpu) park() {
	c.run.SetImmediateExit(true)
	if errno := c.cpu.Run(); errno != 0 && errno != unix.EINTR && errno != unix.EAGAIN {
		c.m.cfg.Log.Warn("completing the last exit before a pause", "vcpu", c.id, "err", errno)
	}
	p := c.m.pauseState()
	p.mu.Lock()
	p.parked++
	for p.want && !c.m.stopping.Load() {
		p.cond.Wait()
	}
	p.parked--
	p.mu.Unlock()
	if !c.m.stopping.Load() {
		c.run.SetImmediateExit(false)
	}
}

// unparkAll wakes parked vCPU loops when the VM stops.
func (m *machine) unparkAll() {
	p := m.pauseState()
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}

// loopGone records that a vCPU loop returned, so that a pause does not
// wait for it.
func (c *vcpu) loopGone() {
	p := c.m.pauseState()
	p.mu.Lock()
	p.gone++
	p.mu.Unlock()
}
