package blk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// Limits and what the device announces in its configuration space.
const (
	// QueueSize is the request queue's maximum size.
	QueueSize = 256
	// segMax is the data segments per request the driver may use: the
	// queue size less the header and status descriptors, so a request
	// always fits the chain bound (§2.7.5.3.1), indirect or not.
	segMax = QueueSize - 2
	// maxDiscardSectors bounds one DISCARD or WRITE_ZEROES segment
	// (2 GiB); maxDiscardSeg segments per request.
	maxDiscardSectors = 1 << 22
	maxDiscardSeg     = 1
	// discardAlignment is the discard granularity in sectors (4 KiB).
	discardAlignment = 8
)

// Options configure a disk.
type Options struct {
	ReadOnly bool
	// ID is the GET_ID string (at most 20 bytes); empty: derived from the
	// file's device and inode numbers.
	ID string
}

// Stats count requests; all fields are updated atomically.
type Stats struct {
	Reads, Writes, Flushes, Discards, WriteZeroes, GetIDs atomic.Uint64
	ReadBytes, WriteBytes                                 atomic.Uint64
	IOErrors                                              atomic.Uint64 // requests answered VIRTIO_BLK_S_IOERR (guest or host cause)
	Unsupported                                           atomic.Uint64 // requests answered VIRTIO_BLK_S_UNSUPP
	Malformed                                             atomic.Uint64 // chains without a header or status byte, returned with length 0
}

// Device is a virtio block device backed by a raw disk image file (or a
// block device).
type Device struct {
	f        *os.File
	fd       int
	path     string
	ro       bool
	capacity uint64 // 512-byte sectors
	punch    bool   // FALLOC_FL_PUNCH_HOLE works
	zero     bool   // FALLOC_FL_ZERO_RANGE works
	id       [VIRTIO_BLK_ID_BYTES]byte
	config   [configSize]byte

	// Owned by the queue worker between Activate and Reset.
	ctx   *virtio.ActivationContext
	chain virtio.Chain
	iov   [][]byte

	Stats Stats
}

var _ virtio.Device = (*Device)(nil)

// Open opens the disk image at path. The capacity is the file's size in
// whole 512-byte sectors; a trailing partial sector is not visible.
func Open(path string, opts Options) (*Device, error) {
	if len(opts.ID) > VIRTIO_BLK_ID_BYTES {
		return nil, fmt.Errorf("blk: ID %q is longer than %d bytes", opts.ID, VIRTIO_BLK_ID_BYTES)
	}
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("blk: %w", err)
	}
	d, err := newDevice(f, path, opts)
	if err != nil {
		_ = f.Close() // the setup error is the one to report
		return nil, err
	}
	return d, nil
}

func newDevice(f *os.File, path string, opts Options) (*Device, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("blk: size of %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("blk: stat %s: %w", path, err)
	}
	d := &Device{f: f, fd: int(f.Fd()), path: path, ro: opts.ReadOnly, capacity: uint64(size) >> SECTOR_SHIFT}
	if !d.ro && st.Mode&unix.S_IFMT == unix.S_IFREG {
		d.punch = probeFallocate(d.fd, size, unix.FALLOC_FL_PUNCH_HOLE)
		d.zero = probeFallocate(d.fd, size, unix.FALLOC_FL_ZERO_RANGE)
	}
	id := opts.ID
	if id == "" {
		id = fmt.Sprintf("hull-%x-%x", st.Dev, st.Ino)
	}
	copy(d.id[:], id)
	d.buildConfig()
	return d, nil
}

// Close closes the disk file. The device must have been reset (its
// transport closed) first.
func (d *Device) Close() error { return d.f.Close() }

// Capacity returns the disk size in 512-byte sectors.
func (d *Device) Capacity() uint64 { return d.capacity }

// ReadOnly reports whether the disk is read-only.
func (d *Device) ReadOnly() bool { return d.ro }

// Discard reports whether DISCARD is offered (the file system can punch
// holes); WriteZeroes likewise for WRITE_ZEROES.
func (d *Device) Discard() bool { return d.punch }

// WriteZeroes reports whether WRITE_ZEROES is offered.
func (d *Device) WriteZeroes() bool { return d.punch || d.zero }

func (d *Device) buildConfig() {
	c := d.config[:]
	binary.LittleEndian.PutUint64(c[cfgCapacity:], d.capacity)
	binary.LittleEndian.PutUint32(c[cfgSegMax:], segMax)
	binary.LittleEndian.PutUint16(c[cfgNumQueues:], 1)
	if d.Discard() {
		binary.LittleEndian.PutUint32(c[cfgMaxDiscardSectors:], maxDiscardSectors)
		binary.LittleEndian.PutUint32(c[cfgMaxDiscardSeg:], maxDiscardSeg)
		binary.LittleEndian.PutUint32(c[cfgDiscardSectorAlignment:], discardAlignment)
	}
	if d.WriteZeroes() {
		binary.LittleEndian.PutUint32(c[cfgMaxWriteZeroesSectors:], maxDiscardSectors)
		binary.LittleEndian.PutUint32(c[cfgMaxWriteZeroesSeg:], maxDiscardSeg)
		if d.punch {
			c[cfgWriteZeroesMayUnmap] = 1
		}
	}
}

// Type implements virtio.Device.
func (d *Device) Type() virtio.DeviceType { return virtio.VIRTIO_ID_BLOCK }

// Features implements virtio.Device.
func (d *Device) Features() uint64 {
	f := virtio.Bit(VIRTIO_BLK_F_SEG_MAX) | virtio.Bit(VIRTIO_BLK_F_FLUSH)
	if d.ro {
		f |= virtio.Bit(VIRTIO_BLK_F_RO)
	}
	if d.Discard() {
		f |= virtio.Bit(VIRTIO_BLK_F_DISCARD)
	}
	if d.WriteZeroes() {
		f |= virtio.Bit(VIRTIO_BLK_F_WRITE_ZEROES)
	}
	return f
}

// QueueSizes implements virtio.Device: one request queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// ReadConfig implements virtio.Device. The configuration never changes.
func (d *Device) ReadConfig(off uint64, p []byte) {
	for i := range p {
		p[i] = 0
		if o := off + uint64(i); o >= off && o < configSize {
			p[i] = d.config[o]
		}
	}
}

// WriteConfig implements virtio.Device: nothing is writable
// (VIRTIO_BLK_F_CONFIG_WCE is not offered).
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device.
func (d *Device) Activate(ctx *virtio.ActivationContext) error {
	if ctx.Queues[0] == nil {
		return errors.New("virtio-blk: the driver did not enable the request queue")
	}
	d.ctx = ctx
	return nil
}

// Reset implements virtio.Device.
func (d *Device) Reset() { d.ctx = nil }

// Kick implements virtio.Device.
func (d *Device) Kick(q int) error {
	return d.ctx.Queues[0].Process(&d.chain, d.handle)
}
