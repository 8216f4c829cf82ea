package virtio

import (
	"encoding/binary"
	"fmt"

	"github.com/hullvm/hull/guestmem"
)

// MaxChainBytes caps the total length of one descriptor chain; it is also
// the most a used element's 32-bit length can report.
const MaxChainBytes = 1<<32 - 1

// Buffer is one guest buffer of a chain, checked at Pop to lie inside guest
// RAM. Zero-length descriptors are dropped.
type Buffer struct {
	Addr guestmem.GPA
	Len  uint32
}

// Chain is one descriptor chain as the device sees it (§2.7.5): the
// device-readable buffers, then the device-writable ones. It is a copy made
// and checked when the chain was popped, so the driver cannot change it
// afterwards (the buffers' contents, of course, it can). A Chain is reused
// by Pop to avoid allocating per request.
type Chain struct {
	Head     uint16   // descriptor index to return in the used ring
	Bufs     []Buffer // readable buffers first, then writable ones
	NumRead  int      // Bufs[:NumRead] are device-readable
	ReadLen  uint64   // total bytes of the readable buffers
	WriteLen uint64   // total bytes of the writable buffers
	Descs    int      // descriptors walked, indirect table entries included
}

// Readable returns the device-readable buffers.
func (c *Chain) Readable() []Buffer { return c.Bufs[:c.NumRead] }

// Writable returns the device-writable buffers.
func (c *Chain) Writable() []Buffer { return c.Bufs[c.NumRead:] }

func (c *Chain) reset(head uint16) {
	c.Head = head
	c.Bufs = c.Bufs[:0]
	c.NumRead, c.ReadLen, c.WriteLen, c.Descs = 0, 0, 0, 0
}

// desc is one struct virtq_desc, parsed from a copy of guest memory.
type desc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

func (q *Queue) readDesc(table guestmem.GPA, i uint16) (desc, error) {
	var b [descSize]byte
	if err := q.mem.ReadAt(b[:], table+descSize*guestmem.GPA(i)); err != nil {
		return desc{}, err
	}
	return desc{
		addr:  binary.LittleEndian.Uint64(b[0:8]),
		len:   binary.LittleEndian.Uint32(b[8:12]),
		flags: binary.LittleEndian.Uint16(b[12:14]),
		next:  binary.LittleEndian.Uint16(b[14:16]),
	}, nil
}

// chainError says why a chain was refused.
type chainError struct {
	head uint16
	why  string
}

func (e *chainError) Error() string {
	return fmt.Sprintf("virtio: descriptor chain at head %d: %s", e.head, e.why)
}

func (e *chainError) Unwrap() error { return ErrBadChain }

// walk follows the chain starting at head (< queue size) into c. It visits
// at most Size descriptors in all, indirect ones included (§2.7.5.3.1: a
// chain is never longer than the queue), so a loop cannot run forever.
func (q *Queue) walk(head uint16, c *Chain) error {
	c.reset(head)
	bad := func(format string, args ...any) error {
		return &chainError{head: head, why: fmt.Sprintf(format, args...)}
	}
	limit := int(q.cfg.Size)
	table, tableLen, idx := q.cfg.Desc, q.cfg.Size, head
	indirect := false
	for {
		c.Descs++
		if c.Descs > limit {
			return bad("longer than the queue size %d (a loop?)", limit)
		}
		d, err := q.readDesc(table, idx)
		if err != nil {
			return bad("descriptor %d unreadable: %v", idx, err)
		}
		if d.flags&VRING_DESC_F_INDIRECT != 0 {
			switch {
			case indirect:
				return bad("indirect descriptor inside an indirect table")
			case !q.indirect:
				return bad("indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC")
			case d.flags&VRING_DESC_F_NEXT != 0:
				return bad("indirect descriptor with VRING_DESC_F_NEXT")
			case d.len == 0 || d.len%descSize != 0:
				return bad("indirect table of %d bytes", d.len)
			case d.len/descSize > uint32(limit):
				return bad("indirect table of %d entries, more than the queue size %d", d.len/descSize, limit)
			case d.addr%descAlign != 0 || !q.mem.Contains(guestmem.GPA(d.addr), uint64(d.len)):
				return bad("indirect table at %#x+%d not aligned guest RAM", d.addr, d.len)
			}
			// The indirect descriptor's own WRITE flag is ignored (§2.7.5.3.2).
			table, tableLen, idx, indirect = guestmem.GPA(d.addr), uint16(d.len/descSize), 0, true
			continue
		}
		if err := c.add(q.mem, d); err != nil {
			return bad("%v", err)
		}
		if d.flags&VRING_DESC_F_NEXT == 0 {
			return nil
		}
		if d.next >= tableLen {
			return bad("next index %d outside a table of %d", d.next, tableLen)
		}
		idx = d.next
	}
}

// add appends the buffer of d, checking direction order, guest RAM and the
// length cap.
func (c *Chain) add(mem *guestmem.Memory, d desc) error {
	write := d.flags&VRING_DESC_F_WRITE != 0
	if !write && c.WriteLen > 0 {
		return fmt.Errorf("device-readable buffer after a device-writable one")
	}
	if d.len == 0 {
		return nil
	}
	if c.ReadLen+c.WriteLen+uint64(d.len) > MaxChainBytes {
		return fmt.Errorf("more than %d bytes in all", uint64(MaxChainBytes))
	}
	if !mem.Contains(guestmem.GPA(d.addr), uint64(d.len)) {
		return fmt.Errorf("buffer %#x+%d outside guest RAM", d.addr, d.len)
	}
	c.Bufs = append(c.Bufs, Buffer{Addr: guestmem.GPA(d.addr), Len: d.len})
	if write {
		c.WriteLen += uint64(d.len)
	} else {
		c.NumRead++
		c.ReadLen += uint64(d.len)
	}
	return nil
}

// Slices appends to dst the host slices that back bytes [off, off+n) of
// the concatenation of bufs, and fails when bufs hold fewer bytes. The
// slices alias guest memory (for pread/pwrite straight into it). Buffers
// that are adjacent in guest memory (and in one RAM region, hence in host
// memory) come back as one slice: the kernel copies one long iovec about
// twice as fast as 128 short ones.
func Slices(mem *guestmem.Memory, bufs []Buffer, off, n uint64, dst [][]byte) ([][]byte, error) {
	first := len(dst)
	var lastAddr, lastEnd guestmem.GPA // of dst[len(dst)-1], when len(dst) > first
	for _, b := range bufs {
		if n == 0 {
			break
		}
		l := uint64(b.Len)
		if off >= l {
			off -= l
			continue
		}
		take := min(l-off, n)
		a := b.Addr + guestmem.GPA(off)
		n -= take
		off = 0
		if k := len(dst) - 1; k >= first && a == lastEnd {
			if s, err := mem.Slice(lastAddr, uint64(len(dst[k]))+take); err == nil {
				dst[k] = s
				lastEnd += guestmem.GPA(take)
				continue
			}
		}
		s, err := mem.Slice(a, take)
		if err != nil {
			return dst, err
		}
		dst = append(dst, s)
		lastAddr, lastEnd = a, a+guestmem.GPA(take)
	}
	if n != 0 {
		return dst, fmt.Errorf("%w: %d bytes past the end of the buffers", ErrShortChain, n)
	}
	return dst, nil
}

// ReadFrom copies len(p) bytes at offset off of the concatenation of bufs
// into p; it fails when bufs hold fewer bytes.
func ReadFrom(mem *guestmem.Memory, bufs []Buffer, off uint64, p []byte) error {
	return copyChain(mem, bufs, off, p, false)
}

// WriteTo copies p into the concatenation of bufs at offset off; it fails
// when bufs hold fewer bytes.
func WriteTo(mem *guestmem.Memory, bufs []Buffer, off uint64, p []byte) error {
	return copyChain(mem, bufs, off, p, true)
}

func copyChain(mem *guestmem.Memory, bufs []Buffer, off uint64, p []byte, write bool) error {
	for _, b := range bufs {
		if len(p) == 0 {
			return nil
		}
		l := uint64(b.Len)
		if off >= l {
			off -= l
			continue
		}
		take := min(l-off, uint64(len(p)))
		a := b.Addr + guestmem.GPA(off)
		var err error
		if write {
			err = mem.WriteAt(p[:take], a)
		} else {
			err = mem.ReadAt(p[:take], a)
		}
		if err != nil {
			return err
		}
		p = p[take:]
		off = 0
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes past the end of the buffers", ErrShortChain, len(p))
	}
	return nil
}
