package vsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/hullvm/hull/internal/epoll"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// Limits.
const (
	// QueueSize is the maximum size of each of the three queues.
	QueueSize = 256
	// MaxConns caps the connections that exist at a time, host clients
	// still writing their CONNECT line included.
	MaxConns = 1024
	// BufAlloc is the receive buffer the device advertises to the guest
	// per connection: guest data the host socket cannot take at once waits
	// there.
	BufAlloc = 256 << 10
	// maxConnectLine bounds "CONNECT <port>\n".
	maxConnectLine = 32
	// maxStrayRST bounds the resets queued for the guest that belong to no
	// connection (answers to packets for unknown ports); beyond it they
	// are dropped and counted: the guest's own timeouts cover them.
	maxStrayRST = 1024
	// firstLocalPort is where host ports for host-initiated connections
	// start (Firecracker's choice: clear of the usual service ports).
	firstLocalPort = 1 << 30

	// DefaultConnectTimeout is how long a host client may take to send
	// its "CONNECT <port>\n" line before it is closed.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultRequestTimeout is how long the guest may take to answer a
	// host-initiated REQUEST (RESPONSE or RST) once it was put in an rx
	// buffer; then the host client is closed and the guest gets RST
	// (Firecracker's CONN_REQUEST_TIMEOUT_MS, 2 s).
	DefaultRequestTimeout = 2 * time.Second
)

// Options configure NewWithOptions; a zero field takes its default.
type Options struct {
	// ConnectTimeout bounds the wait for a host client's CONNECT line
	// (DefaultConnectTimeout). A client that connects and says nothing
	// would otherwise hold a connection slot for ever.
	ConnectTimeout time.Duration
	// RequestTimeout bounds the wait for the guest's answer to a
	// host-initiated REQUEST, counted from when the REQUEST reached an rx
	// buffer, so that a guest still booting does not time clients out
	// (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// MaxConns caps the connections that exist at a time (MaxConns).
	MaxConns int
}

func (o Options) withDefaults() (Options, error) {
	if o.ConnectTimeout < 0 || o.RequestTimeout < 0 || o.MaxConns < 0 {
		return o, fmt.Errorf("vsock: negative option in %+v", o)
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxConns == 0 {
		o.MaxConns = MaxConns
	}
	return o, nil
}

// Sentinels.
var (
	// ErrClosed: the device was closed.
	ErrClosed = errors.New("vsock: device closed")
	// ErrBadCID: the guest CID is reserved or above 32 bits.
	ErrBadCID = errors.New("vsock: bad guest CID")
)

// Stats counts the device's traffic and the guest's mistakes (STYLE 2.14:
// counted, never logged per event). All fields are updated atomically.
type Stats struct {
	Conns        atomic.Int64  // connections open now
	HostConns    atomic.Uint64 // host clients accepted on udsPath
	GuestConns   atomic.Uint64 // guest connections connected to <udsPath>_<port>
	Refused      atomic.Uint64 // guest connections nothing listened for (RST)
	ConnCap      atomic.Uint64 // connections refused at MaxConns
	AcceptFailed atomic.Uint64 // accept ran out of file descriptors
	BadConnect   atomic.Uint64 // host clients closed for a bad CONNECT line
	ToGuest      atomic.Uint64 // payload bytes sent to the guest
	FromGuest    atomic.Uint64 // payload bytes received from the guest
	RSTSent      atomic.Uint64
	RSTDropped   atomic.Uint64 // stray resets dropped, the queue being full
	BadHeader    atomic.Uint64 // tx chain shorter than the header
	BadCID       atomic.Uint64 // wrong source (dropped) or destination CID (RST)
	BadType      atomic.Uint64 // type other than STREAM
	BadOp        atomic.Uint64 // unknown op, or an op the connection's state does not allow
	BadLen       atomic.Uint64 // len beyond the chain or VIRTIO_VSOCK_MAX_PKT_BUF_SIZE
	OverCredit   atomic.Uint64 // guest sent more than the credit we gave it
	BadRxBuffer  atomic.Uint64 // rx chains too small for a packet, returned empty

	// ConnectTimeout counts host clients closed for not sending their
	// CONNECT line within Options.ConnectTimeout.
	ConnectTimeout atomic.Uint64
	// RequestTimeout counts host-initiated connections the guest did not
	// answer within Options.RequestTimeout: client closed, guest sent RST.
	RequestTimeout atomic.Uint64
	// TransportResets counts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET events
	// put in the event queue.
	TransportResets atomic.Uint64
	BadEventBuffer  atomic.Uint64 // event chains too small for an event, returned empty
}

// Device is a virtio-vsock device whose host side is a Unix socket
// listener and Unix socket clients, Firecracker-compatible. Create it with
// New, put it behind a transport, Close it when the VM stops.
type Device struct {
	cid  uint64
	path string
	opts Options

	epfd   int // the muxer's epoll instance, owned by poll once that exists
	poll   *epoll.Poller
	wakefd int // eventfd: kicks and commands
	lfd    int // listening socket on path

	kicked  atomic.Uint32 // bit q: queue q was kicked since the muxer last looked
	hostErr atomic.Pointer[error]

	// resetOnActivate: the device was restored from a snapshot
	// (RestoreState); the next activation queues TRANSPORT_RESET. Set
	// and read by the transport's calls, which are serialized.
	resetOnActivate bool

	cmdMu   sync.Mutex
	cmds    []*command
	stopped bool          // the muxer was told to stop; no command is taken any more
	done    chan struct{} // closed when the muxer returns

	closeOnce sync.Once
	closeErr  error

	// Stats are the device's counters.
	Stats Stats

	m muxer // owned by the muxer goroutine
}

var _ virtio.Device = (*Device)(nil)

type cmdKind int

const (
	cmdActivate cmdKind = iota
	cmdReset
	cmdStop
	cmdTransportReset
	cmdPause
	cmdResume
	cmdActivateRestored // cmdActivate, then the TRANSPORT_RESET event
)

// command is a request to the muxer from another goroutine.
type command struct {
	kind cmdKind
	ctx  *virtio.ActivationContext
	done chan struct{}
}

// New returns a device for guest CID cid that listens on udsPath (which
// must not exist) and starts its muxer, with the default Options. Close
// stops it and removes the socket file.
func New(cid uint64, udsPath string) (*Device, error) {
	return NewWithOptions(cid, udsPath, Options{})
}

// NewWithOptions is New with timeouts and limits of the caller's choice.
func NewWithOptions(cid uint64, udsPath string, opts Options) (*Device, error) {
	if cid <= VMADDR_CID_HOST || cid >= VMADDR_CID_ANY {
		return nil, fmt.Errorf("%w: %d (want 3..%d)", ErrBadCID, cid, uint64(VMADDR_CID_ANY-1))
	}
	// Guest ports are 32-bit: "<udsPath>_4294967295" must fit sun_path too.
	if max := len(unix.RawSockaddrUnix{}.Path) - 1 - len("_4294967295"); len(udsPath) == 0 || len(udsPath) > max {
		return nil, fmt.Errorf("vsock: socket path %q: want 1..%d bytes", udsPath, max)
	}
	return newDevice(cid, udsPath, opts)
}

func newDevice(cid uint64, udsPath string, opts Options) (*Device, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Device{cid: cid, path: udsPath, opts: opts, epfd: -1, wakefd: -1, lfd: -1, done: make(chan struct{})}
	if err := d.open(); err != nil {
		d.closeFDs()
		return nil, err
	}
	d.m.init(d)
	go d.m.run()
	return d, nil
}

func (d *Device) open() error {
	var err error
	if d.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("vsock: epoll_create1: %w", err)
	}
	if d.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("vsock: eventfd: %w", err)
	}
	if d.lfd, err = listenUnix(d.path); err != nil {
		return err
	}
	for _, fd := range []int{d.wakefd, d.lfd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("vsock: epoll_ctl: %w", err)
		}
	}
	if d.poll, err = epoll.NewPoller(d.epfd, "vsock"); err != nil {
		d.epfd = -1 // closed by newPoller
	}
	return err
}

// closeFDs closes what open made; the muxer is not running.
func (d *Device) closeFDs() error {
	var errs []error
	if d.lfd >= 0 {
		errs = append(errs, unix.Close(d.lfd))
		if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("vsock: %w", err))
		}
	}
	if d.wakefd >= 0 {
		errs = append(errs, unix.Close(d.wakefd))
	}
	if d.poll != nil {
		errs = append(errs, d.poll.Close())
	} else if d.epfd >= 0 {
		errs = append(errs, unix.Close(d.epfd))
	}
	d.lfd, d.wakefd, d.epfd, d.poll = -1, -1, -1, nil
	return errors.Join(errs...)
}

// Close stops the muxer, closes every host socket and the listener, and
// removes the socket file. The transport must be closed (or reset) first,
// or its queue workers see ErrClosed from Kick.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.send(cmdStop, nil)
		<-d.done
		d.closeErr = d.closeFDs()
	})
	return d.closeErr
}

// CID returns the guest's context ID.
func (d *Device) CID() uint64 { return d.cid }

// Path returns the socket host clients connect to.
func (d *Device) Path() string { return d.path }

// send hands a command to the muxer and waits until it ran; it reports
// false when the muxer is stopped.
func (d *Device) send(kind cmdKind, ctx *virtio.ActivationContext) bool {
	c := &command{kind: kind, ctx: ctx, done: make(chan struct{})}
	d.cmdMu.Lock()
	if d.stopped {
		d.cmdMu.Unlock()
		return false
	}
	if kind == cmdStop {
		d.stopped = true
	}
	d.cmds = append(d.cmds, c)
	// Under cmdMu: the eventfd stays open until the muxer returned, which
	// is after stopped was set.
	err := d.wake()
	d.cmdMu.Unlock()
	if err != nil {
		// A write to our own eventfd fails only on a counter overflow.
		d.setHostErr(err)
	}
	<-c.done
	return true
}

func (d *Device) takeCommands() []*command {
	d.cmdMu.Lock()
	defer d.cmdMu.Unlock()
	c := d.cmds
	d.cmds = nil
	return c
}

func (d *Device) wake() error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	for {
		_, err := unix.Write(d.wakefd, b[:])
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("vsock: waking the muxer: %w", err)
			}
			return nil
		}
	}
}

// timerWake is the muxer's deadline timer: it wakes the muxer, which
// then closes what is overdue.
func (d *Device) timerWake() {
	d.cmdMu.Lock()
	defer d.cmdMu.Unlock()
	if d.stopped {
		return // the eventfd may be closed
	}
	if err := d.wake(); err != nil {
		d.setHostErr(err)
	}
}

// TransportReset tells the guest's driver that the transport was reset:
// the event VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue (virtio
// 1.x §5.10.6, Device Events), on which Linux resets every connected
// socket and re-reads its CID. The device closes the host sockets of every
// connection the guest knows of, without RST; host clients still writing
// their CONNECT line stay. It is for the VMM after a snapshot restore,
// when the connections of the snapshot are gone on the host side.
//
// With the driver not running it does nothing (a driver that starts later
// has no connections). When the driver has no event buffer posted, the
// event waits for one. It fails only on a closed device.
func (d *Device) TransportReset() error {
	if !d.send(cmdTransportReset, nil) {
		return ErrClosed
	}
	return nil
}

func (d *Device) setHostErr(err error) { d.hostErr.CompareAndSwap(nil, &err) }

// Err returns the first host-side failure of the muxer (an interrupt that
// could not be raised, epoll failing), or nil. After one the device stops
// serving the guest; Kick returns it, so the transport reports it to the
// VMM.
func (d *Device) Err() error {
	if p := d.hostErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Type implements virtio.Device.
func (d *Device) Type() virtio.DeviceType { return virtio.VIRTIO_ID_VSOCK }

// Features implements virtio.Device: stream sockets only, no feature bits.
func (d *Device) Features() uint64 { return 0 }

// QueueSizes implements virtio.Device: rx, tx, event.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize, QueueSize} }

// ReadConfig implements virtio.Device: struct virtio_vsock_config is one
// le64, guest_cid (§5.10.4).
func (d *Device) ReadConfig(off uint64, p []byte) {
	var cfg [8]byte
	binary.LittleEndian.PutUint64(cfg[:], d.cid)
	clear(p)
	if off < uint64(len(cfg)) {
		copy(p, cfg[off:])
	}
}

// WriteConfig implements virtio.Device: the configuration is read-only.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device: the muxer takes the queues.
func (d *Device) Activate(ctx *virtio.ActivationContext) error {
	if len(ctx.Queues) <= txq || ctx.Queues[rxq] == nil || ctx.Queues[txq] == nil {
		return errors.New("virtio-vsock: the driver did not enable the rx and tx queues")
	}
	c := cmdActivate
	if d.resetOnActivate {
		d.resetOnActivate = false
		c = cmdActivateRestored
	}
	if !d.send(c, ctx) {
		return ErrClosed
	}
	return nil
}

// Reset implements virtio.Device: the muxer drops the queues and closes
// every connection's host socket (the guest's sockets are gone with its
// driver); the listener stays.
func (d *Device) Reset() { d.send(cmdReset, nil) }

// Kick implements virtio.Device: it hands the notification to the muxer.
func (d *Device) Kick(q int) error {
	if err := d.Err(); err != nil {
		return err
	}
	if q < 0 || q >= 32 {
		return nil
	}
	d.kicked.Or(1 << q)
	d.cmdMu.Lock()
	defer d.cmdMu.Unlock()
	if d.stopped {
		return ErrClosed
	}
	return d.wake()
}
