package vsock

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// rxBatch is how many rx chains one read from a host socket may fill: a
// Linux guest posts 4 KiB buffers, and one 64 KiB readv costs the kernel
// far less than sixteen 4 KiB ones.
const rxBatch = 16

// hasRx reports whether c has a packet for the guest now.
func (m *muxer) hasRx(c *conn) bool {
	return c.pend != 0 || m.canRead(c) || m.wantCredit(c)
}

// canRead: host data may flow to the guest (the socket may have some, the
// guest wants it and has room).
func (m *muxer) canRead(c *conn) bool {
	return c.state == stateEstablished && c.readable && !c.hostEOF &&
		c.guestShut&VIRTIO_VSOCK_SHUTDOWN_RCV == 0 && c.peerCredit() > 0
}

// wantCredit: host data waits for guest credit, and the guest was not
// asked yet.
func (m *muxer) wantCredit(c *conn) bool {
	return c.state == stateEstablished && c.readable && !c.hostEOF && !c.creditReqSent &&
		c.guestShut&VIRTIO_VSOCK_SHUTDOWN_RCV == 0 && c.peerCredit() == 0
}

// fillRx puts packets in the guest's rx buffers while there are both: stray
// resets first, then the ready connections in turn, one packet (or one
// batch of data packets) each. It signals the guest once at the end. The
// error is a host-side interrupt failure.
func (m *muxer) fillRx() error {
	q := m.ctx.Queues[rxq]
	m.rxUsed = false
	for len(m.stray) > 0 || len(m.ready) > 0 {
		if m.nHeld == 0 && !m.popRx(q) {
			// Out of buffers: ask for a notification, unless more
			// arrived meanwhile.
			if q.EnableNotify() {
				continue
			}
			break
		}
		if len(m.stray) > 0 {
			h := m.stray[0]
			m.stray = m.stray[1:]
			m.emit(m.putPacket(&h, nil))
			m.d.Stats.RSTSent.Add(1)
			continue
		}
		c := m.ready[0]
		m.ready = m.ready[1:]
		c.inReady = false
		if c.closed {
			continue
		}
		m.connPacket(c)
		m.makeReady(c) // more to send: to the back of the list
	}
	if len(m.stray) == 0 {
		m.stray = m.stray[:0:0] // let a burst's backing array go
	}
	if m.rxUsed {
		return q.Signal()
	}
	return nil
}

// popRx pops one more rx chain into rxChains[nHeld]; chains too short for
// a header are returned empty and counted. It reports whether it got one.
func (m *muxer) popRx(q *virtio.Queue) bool {
	for m.nHeld < len(m.rxChains) {
		ch := &m.rxChains[m.nHeld]
		if !q.Pop(ch) {
			return false
		}
		if ch.WriteLen < hdrSize {
			m.d.Stats.BadRxBuffer.Add(1)
			q.PushUsed(ch.Head, 0)
			m.rxUsed = true
			continue
		}
		m.nHeld++
		return true
	}
	return false
}

// emit returns the first held chain to the guest with n bytes used; the
// next held chain becomes the first.
func (m *muxer) emit(n uint32) {
	m.ctx.Queues[rxq].PushUsed(m.rxChains[0].Head, n)
	m.rxUsed = true
	first := m.rxChains[0] // keep its Bufs array for reuse
	copy(m.rxChains, m.rxChains[1:m.nHeld])
	m.nHeld--
	m.rxChains[m.nHeld] = first
}

// room is how much payload the held chain i takes.
func (m *muxer) room(i int) uint64 {
	return min(m.rxChains[i].WriteLen-hdrSize, VIRTIO_VSOCK_MAX_PKT_BUF_SIZE)
}

// putPacket writes h (completed with the addresses and our credit) into
// the first held chain and returns the used length (header and h.Len).
func (m *muxer) putPacket(h *hdr, c *conn) uint32 {
	h.SrcCID, h.DstCID, h.Type = VMADDR_CID_HOST, m.d.cid, VIRTIO_VSOCK_TYPE_STREAM
	h.BufAlloc = BufAlloc
	if c != nil {
		h.FwdCnt = c.fwdCnt
		c.lastFwdSent = c.fwdCnt
		c.pend &^= pendCreditUpdate // told with this packet
	}
	var b [hdrSize]byte
	h.encode(&b)
	if err := virtio.WriteTo(m.ctx.Mem, m.rxChains[0].Writable(), 0, b[:]); err != nil {
		return 0 // cannot happen: WriteLen ≥ hdrSize was checked
	}
	return hdrSize + h.Len
}

// connPacket sends c's next packet(s) through the held chains: a pending
// REQUEST or RESPONSE, host data (or the SHUTDOWN at its end), a credit
// update or request. When the socket turns out empty (EAGAIN) it goes on
// with what else c owes, possibly nothing; the chains stay held.
func (m *muxer) connPacket(c *conn) {
	h := hdr{SrcPort: c.key.local, DstPort: c.key.peer}
	switch {
	case c.pend&pendRequest != 0:
		c.pend &^= pendRequest
		h.Op = VIRTIO_VSOCK_OP_REQUEST
		// The guest's time to answer starts now that it can see the
		// REQUEST (as Firecracker's), not when the host client asked.
		m.requestQ = append(m.requestQ, deadline{c: c, at: time.Now().Add(m.d.opts.RequestTimeout)})
	case c.pend&pendResponse != 0:
		c.pend &^= pendResponse
		h.Op = VIRTIO_VSOCK_OP_RESPONSE
	case m.canRead(c):
		if !m.readHost(c) && !c.closed {
			m.connPacket(c) // EAGAIN: maybe a credit packet is due
		}
		return
	case c.pend&pendCreditUpdate != 0:
		h.Op = VIRTIO_VSOCK_OP_CREDIT_UPDATE
	case m.wantCredit(c):
		c.creditReqSent = true
		h.Op = VIRTIO_VSOCK_OP_CREDIT_REQUEST
	default:
		return
	}
	m.emit(m.putPacket(&h, c))
}

// readHost reads host data straight into the held chains' payload areas,
// popping up to rxBatch chains for one readv, within the guest's credit;
// each chain that got data becomes one RW packet. End of stream becomes
// SHUTDOWN(SEND): the host will send no more (the guest may still write,
// for a half-closed client). It reports whether it sent anything.
func (m *muxer) readHost(c *conn) bool {
	h := hdr{SrcPort: c.key.local, DstPort: c.key.peer}
	if m.room(0) == 0 {
		// A chain with room for the header only: useless for data.
		m.d.Stats.BadRxBuffer.Add(1)
		h.Op = VIRTIO_VSOCK_OP_CREDIT_UPDATE // harmless, and frees the chain
		m.emit(m.putPacket(&h, c))
		return true
	}
	credit := uint64(c.peerCredit())
	want := min(credit, VIRTIO_VSOCK_MAX_PKT_BUF_SIZE)
	total, k := min(m.room(0), credit), 1
	for total < want && (k < m.nHeld || m.popRx(m.ctx.Queues[rxq])) {
		if m.room(k) == 0 {
			break // a header-only chain: leave it for a control packet
		}
		total += min(m.room(k), credit-total)
		k++
	}
	m.iov = m.iov[:0]
	left := total
	for i := 0; i < k && left > 0; i++ {
		r := min(m.room(i), left)
		var err error
		if m.iov, err = virtio.Slices(m.ctx.Mem, m.rxChains[i].Writable(), hdrSize, r, m.iov); err != nil {
			return false // cannot happen: r is within WriteLen
		}
		left -= r
	}
	n, err := readv(c.fd, m.iov)
	switch {
	case err == unix.EAGAIN:
		c.readable = false
		return false
	case err != nil:
		m.closeConn(c, true) // ECONNRESET: the host end is gone
		return false
	case n == 0:
		c.hostEOF = true
		h.Op, h.Flags = VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND
		m.emit(m.putPacket(&h, c))
		return true
	}
	c.toGuest += uint32(n)
	m.d.Stats.ToGuest.Add(uint64(n))
	// readv filled the chains in order: the first ones full, one partly.
	for left := uint64(n); left > 0; {
		h := hdr{SrcPort: c.key.local, DstPort: c.key.peer, Op: VIRTIO_VSOCK_OP_RW}
		h.Len = uint32(min(m.room(0), left))
		left -= uint64(h.Len)
		m.emit(m.putPacket(&h, c))
	}
	return true
}
