package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
)

// Register offsets the harness uses (virtio 1.x §4.2.2). They are the
// spec's numbers written out again on purpose: the harness checks the
// transport against the spec, not against the transport's own constants.
const (
	RegMagicValue        = 0x000
	RegVersion           = 0x004
	RegDeviceID          = 0x008
	RegVendorID          = 0x00c
	RegDeviceFeatures    = 0x010
	RegDeviceFeaturesSel = 0x014
	RegDriverFeatures    = 0x020
	RegDriverFeaturesSel = 0x024
	RegQueueSel          = 0x030
	RegQueueNumMax       = 0x034
	RegQueueNum          = 0x038
	RegQueueReady        = 0x044
	RegQueueNotify       = 0x050
	RegInterruptStatus   = 0x060
	RegInterruptACK      = 0x064
	RegStatus            = 0x070
	RegQueueDescLow      = 0x080
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0
	RegQueueDeviceHigh   = 0x0a4
	RegConfigGeneration  = 0x0fc
	RegConfig            = 0x100
)

// Defaults.
const (
	DefaultMemSize = 16 << 20
	DefaultTimeout = 10 * time.Second
	pageSize       = 4096
)

// IRQ is a virtio.Interrupt that counts triggers and, like the VMM's
// irqfd, signals an eventfd: a waiter sleeps in poll(2) on it and the
// kernel wakes it, as it would inject the interrupt into a guest. (A Go
// channel here would put the waiting goroutine on the device worker's P,
// which then blocks in read(2) holding it until the runtime retakes it.)
type IRQ struct {
	n   atomic.Uint64
	fd  int
	err atomic.Pointer[error]
}

// NewIRQ returns a counting interrupt; Close releases its eventfd.
func NewIRQ() (*IRQ, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("virtiotest: eventfd: %w", err)
	}
	return &IRQ{fd: fd}, nil
}

// Close releases the eventfd.
func (i *IRQ) Close() error { return unix.Close(i.fd) }

// Trigger counts the interrupt and wakes a waiter; it returns the error set
// by Fail, if any.
func (i *IRQ) Trigger() error {
	i.n.Add(1)
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(i.fd, one[:]); err != nil && err != unix.EAGAIN {
		return err
	}
	if p := i.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Count returns the number of interrupts so far.
func (i *IRQ) Count() uint64 { return i.n.Load() }

// Fail makes later triggers return err (nil: succeed again).
func (i *IRQ) Fail(err error) {
	if err == nil {
		i.err.Store(nil)
		return
	}
	i.err.Store(&err)
}

// wait sleeps until an interrupt arrived since the last wait, or until
// the deadline; it reports whether one did.
func (i *IRQ) wait(deadline time.Time) (bool, error) {
	for {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return false, nil
		}
		fds := []unix.PollFd{{Fd: int32(i.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(min(ms, 1<<30)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		var b [8]byte
		if _, err := unix.Read(i.fd, b[:]); err != nil && err != unix.EAGAIN {
			return false, err
		}
		return true, nil
	}
}

// Options configure New.
type Options struct {
	MemSize uint64 // guest RAM at address 0; 0 means DefaultMemSize
	// HostErrors, if set, receives the transport's host-side errors;
	// otherwise any such error fails the test.
	HostErrors func(error)
}

// Driver plays a virtio driver against a transport, over guest memory made
// of plain bytes at address 0. Methods fail the test on anything a correct
// device would not do.
type Driver struct {
	T        testing.TB
	Mem      *guestmem.Memory
	MMIO     *virtio.MMIO
	IRQ      *IRQ
	Features uint64        // negotiated by Init
	Timeout  time.Duration // for Wait; DefaultTimeout

	mu   sync.Mutex
	next guestmem.GPA // bump allocator
}

// New puts dev behind a virtio-mmio transport over fresh guest memory.
// The transport is closed when the test ends.
func New(t testing.TB, dev virtio.Device, opts Options) *Driver {
	t.Helper()
	size := opts.MemSize
	if size == 0 {
		size = DefaultMemSize
	}
	mem, err := guestmem.NewBytes(guestmem.Range{Base: 0, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return newDriver(t, dev, mem, opts)
}

// newDriver puts dev behind a new transport over mem.
func newDriver(t testing.TB, dev virtio.Device, mem *guestmem.Memory, opts Options) *Driver {
	t.Helper()
	irq, err := NewIRQ()
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{T: t, Mem: mem, IRQ: irq, Timeout: DefaultTimeout, next: pageSize}
	onErr := opts.HostErrors
	if onErr == nil {
		onErr = func(err error) { t.Errorf("virtio host-side error: %v", err) }
	}
	d.MMIO, err = virtio.NewMMIO(dev, virtio.MMIOConfig{Mem: mem, Interrupt: d.IRQ, OnError: onErr, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.MMIO.Close(); err != nil {
			t.Errorf("closing the transport: %v", err)
		}
		if err := d.IRQ.Close(); err != nil {
			t.Errorf("closing the interrupt eventfd: %v", err)
		}
	})
	return d
}

// Reg reads a 32-bit register.
func (d *Driver) Reg(off uint64) uint32 {
	var b [4]byte
	d.MMIO.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// SetReg writes a 32-bit register.
func (d *Driver) SetReg(off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	d.MMIO.Write(off, b[:])
}

// Status reads the device status register.
func (d *Driver) Status() uint32 { return d.Reg(RegStatus) }

// DeviceFeatures reads all 64 offered feature bits.
func (d *Driver) DeviceFeatures() uint64 {
	d.SetReg(RegDeviceFeaturesSel, 1)
	hi := d.Reg(RegDeviceFeatures)
	d.SetReg(RegDeviceFeaturesSel, 0)
	return uint64(hi)<<32 | uint64(d.Reg(RegDeviceFeatures))
}

// Negotiate resets the device and runs the initialisation up to
// FEATURES_OK (§3.1.1) accepting want ∩ offered; it reports the accepted
// features and whether the device kept FEATURES_OK set.
func (d *Driver) Negotiate(want uint64) (uint64, bool) {
	d.SetReg(RegStatus, 0)
	d.SetReg(RegStatus, virtio.VIRTIO_CONFIG_S_ACKNOWLEDGE)
	d.SetReg(RegStatus, virtio.VIRTIO_CONFIG_S_ACKNOWLEDGE|virtio.VIRTIO_CONFIG_S_DRIVER)
	f := d.DeviceFeatures() & want
	d.WriteFeatures(f)
	s := uint32(virtio.VIRTIO_CONFIG_S_ACKNOWLEDGE | virtio.VIRTIO_CONFIG_S_DRIVER | virtio.VIRTIO_CONFIG_S_FEATURES_OK)
	d.SetReg(RegStatus, s)
	ok := d.Status()&virtio.VIRTIO_CONFIG_S_FEATURES_OK != 0
	if ok {
		d.Features = f
	}
	return f, ok
}

// WriteFeatures writes the driver's 64 feature bits.
func (d *Driver) WriteFeatures(f uint64) {
	d.SetReg(RegDriverFeaturesSel, 1)
	d.SetReg(RegDriverFeatures, uint32(f>>32))
	d.SetReg(RegDriverFeaturesSel, 0)
	d.SetReg(RegDriverFeatures, uint32(f))
}

// Init is Negotiate that fails the test when FEATURES_OK is refused.
func (d *Driver) Init(want uint64) uint64 {
	d.T.Helper()
	f, ok := d.Negotiate(want)
	if !ok {
		d.T.Fatalf("device refused features %#x (status %#x)", f, d.Status())
	}
	return f
}

// DriverOK sets DRIVER_OK and fails the test if the device then reports
// DEVICE_NEEDS_RESET.
func (d *Driver) DriverOK() {
	d.T.Helper()
	d.SetReg(RegStatus, d.Status()|virtio.VIRTIO_CONFIG_S_DRIVER_OK)
	if s := d.Status(); s&virtio.VIRTIO_CONFIG_S_NEEDS_RESET != 0 || s&virtio.VIRTIO_CONFIG_S_DRIVER_OK == 0 {
		d.T.Fatalf("device status %#x after DRIVER_OK", s)
	}
}

// Reset writes 0 to the status register.
func (d *Driver) Reset() { d.SetReg(RegStatus, 0) }

// Config reads n bytes of configuration space at off, byte by byte, the way
// a driver may.
func (d *Driver) Config(off uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		d.MMIO.Read(RegConfig+off+uint64(i), b[i:i+1])
	}
	return b
}

// Alloc reserves n bytes of guest memory aligned to align (a power of two),
// never shared with another allocation's 4-byte words.
func (d *Driver) Alloc(n, align uint64) guestmem.GPA {
	d.mu.Lock()
	defer d.mu.Unlock()
	align = max(align, 8)
	a := (uint64(d.next) + align - 1) &^ (align - 1)
	end := a + (n+7)&^7 + 8
	if !d.Mem.Contains(guestmem.GPA(a), end-a) {
		d.T.Fatalf("virtiotest: guest memory exhausted allocating %d bytes", n)
	}
	d.next = guestmem.GPA(end)
	return guestmem.GPA(a)
}

// AllocMark returns the allocator's position, for AllocRelease.
func (d *Driver) AllocMark() guestmem.GPA {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next
}

// AllocRelease frees everything allocated since AllocMark returned m
// (loops and fuzz targets reuse one driver).
func (d *Driver) AllocRelease(m guestmem.GPA) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next = m
}

// Put copies p into freshly allocated guest memory and returns its address.
func (d *Driver) Put(p []byte) guestmem.GPA {
	a := d.Alloc(uint64(len(p)), 8)
	if err := d.Mem.WriteAt(p, a); err != nil {
		d.T.Fatal(err)
	}
	return a
}

// Bytes returns a copy of n bytes of guest memory at a.
func (d *Driver) Bytes(a guestmem.GPA, n int) []byte {
	b := make([]byte, n)
	if err := d.Mem.ReadAt(b, a); err != nil {
		d.T.Fatal(err)
	}
	return b
}

// AckInterrupt reads InterruptStatus and acknowledges what it found, as
// Linux's vm_interrupt does; it returns the bits.
func (d *Driver) AckInterrupt() uint32 {
	isr := d.Reg(RegInterruptStatus)
	if isr != 0 {
		d.SetReg(RegInterruptACK, isr)
	}
	return isr
}

// ErrTimeout is what WaitErr returns when nothing arrived in time.
var ErrTimeout = errors.New("virtiotest: timed out")

func (d *Driver) timeoutErr(what string) error {
	return fmt.Errorf("%w after %v waiting for %s (interrupts so far: %d, status %#x)",
		ErrTimeout, d.Timeout, what, d.IRQ.Count(), d.Status())
}
