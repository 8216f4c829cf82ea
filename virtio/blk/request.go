package blk

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// A request (§5.2.6) is one chain: a 16-byte header (type, ioprio, sector)
// and, for OUT, DISCARD and WRITE_ZEROES, data in the readable part; the
// writable part holds the data of IN and GET_ID, then the status byte as
// its very last byte. Nothing is assumed about how the driver splits this
// into descriptors.

// handle serves one request and returns the bytes written into the chain's
// writable part, the status byte included. Every failure is the guest's
// answer (a status byte); only a chain with no room for a status byte is
// returned with length 0.
func (d *Device) handle(c *virtio.Chain) (uint32, error) {
	mem := d.ctx.Mem
	var hdr [outhdrSize]byte
	if c.WriteLen < 1 || virtio.ReadFrom(mem, c.Readable(), 0, hdr[:]) != nil {
		d.Stats.Malformed.Add(1)
		return 0, nil
	}
	typ := binary.LittleEndian.Uint32(hdr[0:4])
	sector := binary.LittleEndian.Uint64(hdr[8:16])

	var data uint64 // bytes of data written into the writable part
	var status byte
	switch typ {
	case VIRTIO_BLK_T_IN:
		data, status = d.read(c, sector)
	case VIRTIO_BLK_T_OUT:
		status = d.write(c, sector)
	case VIRTIO_BLK_T_FLUSH:
		status = d.flush()
	case VIRTIO_BLK_T_GET_ID:
		data, status = d.getID(c)
	case VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES:
		status = d.discardOrZero(c, typ)
	default: // GET_LIFETIME, SECURE_ERASE, zoned, unknown
		status = VIRTIO_BLK_S_UNSUPP
	}
	switch status {
	case VIRTIO_BLK_S_IOERR:
		d.Stats.IOErrors.Add(1)
		data = 0
	case VIRTIO_BLK_S_UNSUPP:
		d.Stats.Unsupported.Add(1)
		data = 0
	}
	if virtio.WriteTo(mem, c.Writable(), c.WriteLen-1, []byte{status}) != nil {
		d.Stats.Malformed.Add(1) // cannot happen: the chain was checked at Pop
		return 0, nil
	}
	return uint32(data + 1), nil
}

// span checks that n bytes at sector lie on the disk and returns the byte
// offset. Huge sector numbers and overflowing sums are refused.
func (d *Device) span(sector, n uint64) (int64, bool) {
	if n%SECTOR_SIZE != 0 || sector > d.capacity || n>>SECTOR_SHIFT > d.capacity-sector {
		return 0, false
	}
	return int64(sector << SECTOR_SHIFT), true
}

// read serves VIRTIO_BLK_T_IN: pread straight into the guest's buffers.
func (d *Device) read(c *virtio.Chain, sector uint64) (uint64, byte) {
	n := c.WriteLen - 1
	off, ok := d.span(sector, n)
	if !ok {
		return 0, VIRTIO_BLK_S_IOERR
	}
	var err error
	if d.iov, err = virtio.Slices(d.ctx.Mem, c.Writable(), 0, n, d.iov[:0]); err != nil {
		return 0, VIRTIO_BLK_S_IOERR
	}
	if err := readFull(d.fd, d.iov, off); err != nil {
		return 0, VIRTIO_BLK_S_IOERR
	}
	d.Stats.Reads.Add(1)
	d.Stats.ReadBytes.Add(n)
	return n, VIRTIO_BLK_S_OK
}

// write serves VIRTIO_BLK_T_OUT: pwrite straight from the guest's buffers.
func (d *Device) write(c *virtio.Chain, sector uint64) byte {
	if d.ro {
		return VIRTIO_BLK_S_IOERR // §5.2.6.2, and no data is written
	}
	n := c.ReadLen - outhdrSize
	off, ok := d.span(sector, n)
	if !ok {
		return VIRTIO_BLK_S_IOERR
	}
	var err error
	if d.iov, err = virtio.Slices(d.ctx.Mem, c.Readable(), outhdrSize, n, d.iov[:0]); err != nil {
		return VIRTIO_BLK_S_IOERR
	}
	if err := writeFull(d.fd, d.iov, off); err != nil {
		return VIRTIO_BLK_S_IOERR
	}
	d.Stats.Writes.Add(1)
	d.Stats.WriteBytes.Add(n)
	return VIRTIO_BLK_S_OK
}

// flush serves VIRTIO_BLK_T_FLUSH: the data written so far reaches the disk.
func (d *Device) flush() byte {
	d.Stats.Flushes.Add(1)
	if d.ro {
		return VIRTIO_BLK_S_OK
	}
	if err := unix.Fdatasync(d.fd); err != nil {
		return VIRTIO_BLK_S_IOERR
	}
	return VIRTIO_BLK_S_OK
}

// getID serves VIRTIO_BLK_T_GET_ID: the 20-byte, zero-padded ID, or as much
// of it as the buffer holds.
func (d *Device) getID(c *virtio.Chain) (uint64, byte) {
	n := min(c.WriteLen-1, VIRTIO_BLK_ID_BYTES)
	if virtio.WriteTo(d.ctx.Mem, c.Writable(), 0, d.id[:n]) != nil {
		return 0, VIRTIO_BLK_S_IOERR
	}
	d.Stats.GetIDs.Add(1)
	return n, VIRTIO_BLK_S_OK
}

// discardOrZero serves VIRTIO_BLK_T_DISCARD and VIRTIO_BLK_T_WRITE_ZEROES
// (§5.2.6.2) with fallocate: a punched hole reads as zeros, and a
// zeroed range keeps its allocation.
func (d *Device) discardOrZero(c *virtio.Chain, typ uint32) byte {
	zero := typ == VIRTIO_BLK_T_WRITE_ZEROES
	switch {
	case zero && !d.WriteZeroes(), !zero && !d.Discard():
		return VIRTIO_BLK_S_UNSUPP
	case d.ro:
		return VIRTIO_BLK_S_IOERR
	}
	payload := c.ReadLen - outhdrSize
	if payload == 0 || payload%segmentSize != 0 || payload/segmentSize > maxDiscardSeg {
		return VIRTIO_BLK_S_IOERR
	}
	mem := d.ctx.Mem
	var seg [segmentSize]byte
	for i := uint64(0); i < payload/segmentSize; i++ {
		if virtio.ReadFrom(mem, c.Readable(), outhdrSize+i*segmentSize, seg[:]) != nil {
			return VIRTIO_BLK_S_IOERR
		}
		sector := binary.LittleEndian.Uint64(seg[0:8])
		num := uint64(binary.LittleEndian.Uint32(seg[8:12]))
		flags := binary.LittleEndian.Uint32(seg[12:16])
		unmap := flags&VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP != 0
		if flags&^VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP != 0 || unmap && !zero {
			return VIRTIO_BLK_S_UNSUPP // unknown flags; UNMAP on a discard
		}
		if num > maxDiscardSectors {
			return VIRTIO_BLK_S_IOERR
		}
		off, ok := d.span(sector, num<<SECTOR_SHIFT)
		if !ok {
			return VIRTIO_BLK_S_IOERR
		}
		if num == 0 {
			continue
		}
		mode := uint32(unix.FALLOC_FL_PUNCH_HOLE)
		if zero && d.zero && (!unmap || !d.punch) {
			mode = unix.FALLOC_FL_ZERO_RANGE
		}
		if err := unix.Fallocate(d.fd, mode|unix.FALLOC_FL_KEEP_SIZE, off, int64(num<<SECTOR_SHIFT)); err != nil {
			return VIRTIO_BLK_S_IOERR
		}
	}
	if zero {
		d.Stats.WriteZeroes.Add(1)
	} else {
		d.Stats.Discards.Add(1)
	}
	return VIRTIO_BLK_S_OK
}
