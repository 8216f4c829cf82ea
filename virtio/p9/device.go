package p9

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	lib9p "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// Limits.
const (
	// QueueSize is the request queue's maximum size; it also bounds the
	// requests in flight (each holds its chain).
	QueueSize = 256
	// DefaultMaxMessageSize is the largest msize the device agrees to by
	// default: Linux's virtio transport caps its own at 500 KiB
	// (PAGE_SIZE * (VIRTQUEUE_NUM - 3)), so a guest asking for more gets
	// that much.
	DefaultMaxMessageSize = 512 << 10
	// MinMessageSize is the smallest msize a Tversion may ask for (Linux
	// refuses less itself).
	MinMessageSize = 4096
	// MaxMessageSizeLimit is the largest Options.MaxMessageSize: the p9
	// server's own bound on a message.
	MaxMessageSizeLimit = 4 << 20
	// MaxTagLen bounds the mount tag.
	MaxTagLen = 255
)

// Options configure a share.
type Options struct {
	// Tag is the mount tag the guest names the share by
	// (mount -t 9p -o trans=virtio TAG DIR): 1 to MaxTagLen bytes of
	// letters, digits, '.', '_' and '-'.
	Tag string
	// ReadOnly answers every change EROFS.
	ReadOnly bool
	// MaxMessageSize bounds msize; 0 means DefaultMaxMessageSize.
	MaxMessageSize uint32
	// MaxFiles bounds the files (fids) the guest holds open at once; a
	// walk or attach past it gets ENFILE. Each holds one or two host
	// descriptors, so an unbounded guest would exhaust the VMM's. 0: one
	// eighth of the process's RLIMIT_NOFILE, at least MinMaxFiles.
	MaxFiles int
	// OnError receives a host-side failure of the reply path (the server
	// broke the protocol), after which the device stops answering; the
	// VMM stops the VM. Kick returns the same error. Nil: Kick alone
	// reports it.
	OnError func(error)
}

// Stats count requests; all fields are updated atomically (STYLE 2.14:
// counted, never logged per event).
type Stats struct {
	Requests atomic.Uint64 // requests passed to the server
	Replies  atomic.Uint64 // replies from the server returned to the guest

	// Answered by the device itself, never reaching the server.
	Malformed   atomic.Uint64 // chain too short for a header or an Rlerror: returned with length 0
	BadMessage  atomic.Uint64 // size field wrong, fields missing, unknown type: Rlerror EINVAL/ENOSYS
	TooBig      atomic.Uint64 // message larger than msize: Rlerror EMSGSIZE
	Unsupported atomic.Uint64 // xattrs: Rlerror EOPNOTSUPP
	Local       atomic.Uint64 // Tflush of nothing in flight, Tgetlock: answered by the device

	// ReplyTooBig counts server replies larger than the chain's writable
	// buffers: the guest gets Rlerror EMSGSIZE instead.
	ReplyTooBig atomic.Uint64
	// Unroutable counts server replies with a tag no request holds (none
	// expected: every message is checked before the server sees it).
	Unroutable atomic.Uint64
	// ServerPanics counts panics recovered from the p9 server's
	// connection goroutine at a session's end (none expected; see
	// serverEnd in session.go).
	ServerPanics atomic.Uint64
	// TooManyFiles counts walks and attaches refused ENFILE at MaxFiles.
	TooManyFiles atomic.Uint64
}

// MinMaxFiles is the least default of Options.MaxFiles.
const MinMaxFiles = 256

// defaultMaxFiles is Options.MaxFiles's default: an eighth of the
// descriptors this process may open (a share's files hold up to two each;
// a VM has two shares, and the VMM needs descriptors of its own).
func defaultMaxFiles() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 1 << 16
	}
	return max(MinMaxFiles, int(min(rl.Cur/8, 1<<20)))
}

// Device is a virtio-9p device serving one host directory. Create it with
// New, put it behind a transport, Close it after the transport.
type Device struct {
	fs      *fsys
	srv     *lib9p.Server
	max     uint32
	onError func(error)
	config  []byte

	hostErr atomic.Pointer[error]

	// sess is the running session, from Activate to Reset. Only the
	// transport's calls (serialized by it) and the queue worker touch it.
	sess *session

	closeOnce sync.Once
	closeErr  error

	// Stats are the device's counters.
	Stats Stats
}

var _ virtio.Device = (*Device)(nil)

// ErrBadTag: the mount tag is empty, too long or has other characters
// than letters, digits, '.', '_' and '-'.
var ErrBadTag = errors.New("p9: bad mount tag")

// CheckTag validates a mount tag.
func CheckTag(tag string) error {
	if tag == "" || len(tag) > MaxTagLen {
		return fmt.Errorf("%w %q: want 1 to %d bytes", ErrBadTag, tag, MaxTagLen)
	}
	for _, c := range []byte(tag) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: only letters, digits, '.', '_' and '-'", ErrBadTag, tag)
		}
	}
	return nil
}

// New returns a device serving the directory at path.
func New(path string, opts Options) (*Device, error) {
	if err := CheckTag(opts.Tag); err != nil {
		return nil, err
	}
	max := opts.MaxMessageSize
	if max == 0 {
		max = DefaultMaxMessageSize
	}
	if max < MinMessageSize || max > MaxMessageSizeLimit {
		return nil, fmt.Errorf("p9: maximum message size %d outside %d..%d", max, MinMessageSize, MaxMessageSizeLimit)
	}
	fs, err := openFS(path, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	fs.maxNodes = int64(opts.MaxFiles)
	if fs.maxNodes <= 0 {
		fs.maxNodes = int64(defaultMaxFiles())
	}
	d := &Device{fs: fs, srv: lib9p.NewServer(fs), max: max, onError: opts.OnError}
	fs.tooMany = &d.Stats.TooManyFiles
	d.config = make([]byte, cfgTag+len(opts.Tag))
	binary.LittleEndian.PutUint16(d.config[cfgTagLen:], uint16(len(opts.Tag)))
	copy(d.config[cfgTag:], opts.Tag)
	return d, nil
}

// Close closes the shared directory. The transport must be closed (or
// reset) first.
func (d *Device) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.fs.close() })
	return d.closeErr
}

// Tag returns the mount tag.
func (d *Device) Tag() string { return string(d.config[cfgTag:]) }

// ReadOnly reports whether the share is read-only.
func (d *Device) ReadOnly() bool { return d.fs.ro }

// MaxMessageSize returns the largest msize the device agrees to.
func (d *Device) MaxMessageSize() uint32 { return d.max }

// Type implements virtio.Device.
func (d *Device) Type() virtio.DeviceType { return virtio.VIRTIO_ID_9P }

// Features implements virtio.Device.
func (d *Device) Features() uint64 { return virtio.Bit(VIRTIO_9P_MOUNT_TAG) }

// QueueSizes implements virtio.Device: one request queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// ReadConfig implements virtio.Device: tag_len, then the tag.
func (d *Device) ReadConfig(off uint64, p []byte) {
	for i := range p {
		p[i] = 0
		if o := off + uint64(i); o >= off && o < uint64(len(d.config)) {
			p[i] = d.config[o]
		}
	}
}

// WriteConfig implements virtio.Device: nothing is writable.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device: a new 9P session (no fids) starts.
func (d *Device) Activate(ctx *virtio.ActivationContext) error {
	if ctx.Queues[0] == nil {
		return errors.New("virtio-9p: the driver did not enable the request queue")
	}
	d.sess = d.startSession(ctx)
	return nil
}

// Reset implements virtio.Device: the session ends; the server's fids are
// closed and the reply path no longer touches guest memory when it
// returns.
func (d *Device) Reset() {
	if d.sess != nil {
		d.sess.stop()
		d.sess = nil
	}
}

// Kick implements virtio.Device.
func (d *Device) Kick(q int) error {
	if p := d.hostErr.Load(); p != nil {
		return *p
	}
	return d.sess.kick()
}

// fail records the first host-side failure and reports it.
func (d *Device) fail(err error) {
	if d.hostErr.CompareAndSwap(nil, &err) && d.onError != nil {
		d.onError(err)
	}
}
