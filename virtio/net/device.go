package net

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/hullvm/hull/internal/epoll"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// QueueSize is the maximum size of the receive and transmit queues.
const QueueSize = 256

// Options configure a device.
type Options struct {
	// MAC is the guest's MAC address (VIRTIO_NET_F_MAC): unicast, not all
	// zeros. LocalMAC derives one.
	MAC MAC
	// OnError receives the first host-side failure of the receive loop (a
	// backend read error, an interrupt that cannot be raised), after
	// which the device stops receiving; the VMM stops the VM. Kick
	// returns the same error. Nil: Kick alone reports it.
	OnError func(error)
}

// Stats count the device's traffic and what it dropped (STYLE 2.14:
// counted, never logged per event). All fields are updated atomically.
type Stats struct {
	TxFrames atomic.Uint64 // frames written to the backend
	TxBytes  atomic.Uint64 // their bytes, headers excluded
	RxFrames atomic.Uint64 // frames delivered to the driver
	RxBytes  atomic.Uint64 // their bytes, headers excluded

	// Guest-caused, transmit side: the frame is dropped, its chain
	// returned.
	TxShort     atomic.Uint64 // chain shorter than the header and an Ethernet header
	TxTooBig    atomic.Uint64 // frame longer than MaxFrame
	TxBadHeader atomic.Uint64 // header asks for an offload the driver did not negotiate
	// TxDropped: the backend refused the frame (a TAP that is down: EIO;
	// a GSO header the kernel rejects: EINVAL; a full socket: EAGAIN).
	TxDropped atomic.Uint64

	// Receive side.
	RxTooBig    atomic.Uint64 // frame longer than MaxFrame or than every buffer the driver can post: dropped
	RxBadFrame  atomic.Uint64 // backend frame shorter than the header, or offloaded beyond what the driver accepted: dropped
	RxBadBuffer atomic.Uint64 // rx chain too small for the header, returned with length 0
	RxWaits     atomic.Uint64 // times a frame waited for the driver to post buffers
}

// Device is a virtio-net device over a Backend. Create it with New, put it
// behind a transport, Close it after the transport.
type Device struct {
	be      Backend
	offered uint64
	onError func(error)
	config  [configSize]byte

	epfd   int // the receive loop's epoll set: the backend and wakefd
	poll   *epoll.Poller
	wakefd int // eventfd: rx kicks and stop requests

	hostErr atomic.Pointer[error]

	// From Activate to Reset. Set before the queue workers and the receive
	// loop start, dropped after they stopped.
	ctx *virtio.ActivationContext
	rx  *receiver // the receive loop's state
	tx  sender    // the transmit worker's state

	closeOnce sync.Once
	closeErr  error

	// Stats are the device's counters.
	Stats Stats
}

var _ virtio.Device = (*Device)(nil)

// New returns a device over be, which it owns from now on (Close closes
// it, also when New fails).
func New(be Backend, opts Options) (*Device, error) {
	d := &Device{be: be, onError: opts.OnError, epfd: -1, wakefd: -1}
	if err := d.open(opts); err != nil {
		return nil, errors.Join(err, d.closeFDs())
	}
	return d, nil
}

func (d *Device) open(opts Options) error {
	mac := opts.MAC
	if err := mac.Check(); err != nil {
		return err
	}
	copy(d.config[cfgMAC:], mac[:])
	binary.LittleEndian.PutUint16(d.config[cfgStatus:], VIRTIO_NET_S_LINK_UP)
	binary.LittleEndian.PutUint16(d.config[cfgMaxVirtqueuePairs:], 1)
	d.offered = offeredFeatures(d.be.Offloads())

	var err error
	if d.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("net: epoll_create1: %w", err)
	}
	if d.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("net: eventfd: %w", err)
	}
	if err := epoll.Add(d.epfd, d.wakefd, unix.EPOLLIN); err != nil {
		return fmt.Errorf("net: epoll_ctl: %w", err)
	}
	if err := epoll.Add(d.epfd, d.be.FD(), unix.EPOLLIN|unix.EPOLLET); err != nil {
		return fmt.Errorf("net: epoll_ctl on the backend: %w", err)
	}
	d.poll, err = epoll.NewPoller(d.epfd, "virtio-net")
	if err != nil {
		d.epfd = -1 // closed by newPoller
	}
	return err
}

// offeredFeatures maps the backend's offloads to feature bits. The
// checksum offload comes first: the TSO features depend on it, on both
// sides (§5.1.3.1), and ECN on TSO.
func offeredFeatures(off uint32) uint64 {
	f := virtio.Bit(VIRTIO_NET_F_MAC) | virtio.Bit(VIRTIO_NET_F_STATUS) | virtio.Bit(VIRTIO_NET_F_MRG_RXBUF)
	if off&TUN_F_CSUM == 0 {
		return f
	}
	f |= virtio.Bit(VIRTIO_NET_F_CSUM) | virtio.Bit(VIRTIO_NET_F_GUEST_CSUM)
	if off&TUN_F_TSO4 != 0 {
		f |= virtio.Bit(VIRTIO_NET_F_HOST_TSO4) | virtio.Bit(VIRTIO_NET_F_GUEST_TSO4)
	}
	if off&TUN_F_TSO6 != 0 {
		f |= virtio.Bit(VIRTIO_NET_F_HOST_TSO6) | virtio.Bit(VIRTIO_NET_F_GUEST_TSO6)
	}
	if off&TUN_F_TSO_ECN != 0 && off&(TUN_F_TSO4|TUN_F_TSO6) != 0 {
		f |= virtio.Bit(VIRTIO_NET_F_HOST_ECN) | virtio.Bit(VIRTIO_NET_F_GUEST_ECN)
	}
	return f
}

// backendOffload is what the backend is asked to deliver for the
// negotiated features: partial checksums when the driver takes them, TSO
// when it also takes checksums. With VIRTIO_NET_F_MRG_RXBUF a TSO frame
// (up to 64 KiB) spans many mergeable buffers; the receiver returns them
// with one used.idx store (virtio.Queue.PushUsedBatch), so a driver that
// polls the used ring, as Linux's receive_mergeable does, finds all
// num_buffers of them or none.
func backendOffload(features uint64) uint32 {
	has := func(n uint) bool { return features&virtio.Bit(n) != 0 }
	if !has(VIRTIO_NET_F_GUEST_CSUM) {
		return 0
	}
	f := uint32(TUN_F_CSUM)
	if has(VIRTIO_NET_F_GUEST_TSO4) {
		f |= TUN_F_TSO4
	}
	if has(VIRTIO_NET_F_GUEST_TSO6) {
		f |= TUN_F_TSO6
	}
	if has(VIRTIO_NET_F_GUEST_ECN) && f&(TUN_F_TSO4|TUN_F_TSO6) != 0 {
		f |= TUN_F_TSO_ECN
	}
	return f
}

// closeFDs closes the epoll set and the eventfd, then the backend.
func (d *Device) closeFDs() error {
	var errs []error
	if d.poll != nil {
		errs = append(errs, d.poll.Close())
	} else if d.epfd >= 0 {
		errs = append(errs, unix.Close(d.epfd))
	}
	if d.wakefd >= 0 {
		errs = append(errs, unix.Close(d.wakefd))
	}
	errs = append(errs, d.be.Close())
	d.poll, d.epfd, d.wakefd = nil, -1, -1
	return errors.Join(errs...)
}

// Close closes the device and its backend. The transport must be closed
// (or reset) first: the receive loop runs from activation to reset.
func (d *Device) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.closeFDs() })
	return d.closeErr
}

// Backend returns the device's backend.
func (d *Device) Backend() Backend { return d.be }

// MAC returns the guest's MAC address.
func (d *Device) MAC() MAC { return MAC(d.config[cfgMAC : cfgMAC+6]) }

// fail records the first host-side failure and reports it.
func (d *Device) fail(err error) {
	if d.hostErr.CompareAndSwap(nil, &err) && d.onError != nil {
		d.onError(err)
	}
}

// Err returns the first host-side failure, or nil.
func (d *Device) Err() error {
	if p := d.hostErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Type implements virtio.Device.
func (d *Device) Type() virtio.DeviceType { return virtio.VIRTIO_ID_NET }

// Features implements virtio.Device: MAC, STATUS, MRG_RXBUF, and the
// checksum and TSO offloads the backend supports.
func (d *Device) Features() uint64 { return d.offered }

// QueueSizes implements virtio.Device: receiveq1, transmitq1.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize} }

// ReadConfig implements virtio.Device. The configuration never changes:
// the link is always up.
func (d *Device) ReadConfig(off uint64, p []byte) {
	clear(p)
	if off < configSize {
		copy(p, d.config[off:])
	}
}

// WriteConfig implements virtio.Device: nothing is writable (the MAC is
// writable only for legacy drivers, §5.1.4).
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device: the backend is told which offloads
// the driver takes and the receive loop starts.
func (d *Device) Activate(ctx *virtio.ActivationContext) error {
	if len(ctx.Queues) <= txq || ctx.Queues[rxq] == nil || ctx.Queues[txq] == nil {
		return errors.New("virtio-net: the driver did not enable the receive and transmit queues")
	}
	if err := d.Err(); err != nil {
		return err
	}
	if err := d.be.SetOffload(backendOffload(ctx.Features)); err != nil {
		err = fmt.Errorf("net: setting the backend's offloads: %w", err)
		d.fail(err)
		return err
	}
	d.ctx = ctx
	d.tx.init(d, ctx)
	d.rx = newReceiver(d, ctx)
	if !ctx.Paused {
		d.rx.start()
	}
	return nil
}

// Pause implements virtio.Pauser: the receive loop stops, and the receive
// buffers it held for a frame go back to the driver empty. A frame read
// from the backend stays for Resume (a snapshot drops it); frames arriving
// meanwhile wait in the backend. Transmission runs on the transport's
// queue worker, which the transport stopped already.
func (d *Device) Pause() error {
	if d.rx != nil {
		d.rx.stop()
		d.rx.giveBack()
	}
	return nil
}

// Resume implements virtio.Pauser: the receive loop starts again, first
// signalling the buffers Pause gave back.
func (d *Device) Resume() {
	if d.rx != nil {
		d.rx.start()
	}
}

// Reset implements virtio.Device: the receive loop stops (a frame it
// held for the driver is dropped) and the backend's offloads go back to
// none.
func (d *Device) Reset() {
	if d.rx != nil {
		d.rx.stop()
		d.rx = nil
	}
	d.ctx = nil
	if err := d.be.SetOffload(0); err != nil {
		d.fail(fmt.Errorf("net: clearing the backend's offloads: %w", err))
	}
}

// Kick implements virtio.Device: transmit chains are sent on the calling
// worker; receive buffers are the receive loop's, which is woken.
func (d *Device) Kick(q int) error {
	if err := d.Err(); err != nil {
		return err
	}
	switch q {
	case txq:
		return d.tx.kick()
	case rxq:
		return d.wake()
	}
	return nil
}

// wake signals the receive loop's eventfd (a counter: no wake-up is lost).
func (d *Device) wake() error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	for {
		_, err := unix.Write(d.wakefd, b[:])
		switch err {
		case unix.EINTR:
			continue
		case nil, unix.EAGAIN: // EAGAIN: the counter is full, so the loop will wake anyway
			return nil
		}
		return fmt.Errorf("net: waking the receive loop: %w", err)
	}
}
