package vsock

import (
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// handleTx handles one packet from the guest (a tx chain: header, then
// payload, device-readable). The used length is always 0: the device
// writes nothing into tx chains. Nothing here fails the VM: a guest's
// mistake is counted and answered RST, or dropped.
func (m *muxer) handleTx(ch *virtio.Chain) (uint32, error) {
	st := &m.d.Stats
	if ch.ReadLen < hdrSize {
		st.BadHeader.Add(1)
		return 0, nil
	}
	var b [hdrSize]byte
	if err := virtio.ReadFrom(m.ctx.Mem, ch.Readable(), 0, b[:]); err != nil {
		st.BadHeader.Add(1) // cannot happen for a popped chain
		return 0, nil
	}
	var h hdr
	h.decode(&b)
	// A packet that claims another source is not the guest's to send:
	// drop it without an answer, as Firecracker does.
	if h.SrcCID != m.d.cid {
		st.BadCID.Add(1)
		return 0, nil
	}
	bad := func(n *atomic.Uint64) (uint32, error) {
		n.Add(1)
		m.refuse(&h)
		return 0, nil
	}
	switch {
	case h.DstCID != VMADDR_CID_HOST:
		return bad(&st.BadCID) // no sibling VMs behind this device
	case h.Type != VIRTIO_VSOCK_TYPE_STREAM:
		return bad(&st.BadType)
	case h.Op < VIRTIO_VSOCK_OP_REQUEST || h.Op > VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		return bad(&st.BadOp)
	case h.Len > VIRTIO_VSOCK_MAX_PKT_BUF_SIZE || uint64(h.Len) > ch.ReadLen-hdrSize:
		return bad(&st.BadLen)
	}
	key := connKey{local: h.DstPort, peer: h.SrcPort}
	c := m.conns[key]
	if c == nil {
		switch h.Op {
		case VIRTIO_VSOCK_OP_REQUEST:
			m.guestConnect(&h)
		case VIRTIO_VSOCK_OP_RST:
		default:
			m.queueRST(h.DstPort, h.SrcPort) // no such connection
		}
		return 0, nil
	}
	// Every packet carries the guest's credit.
	c.peerBufAlloc, c.peerFwdCnt = h.BufAlloc, h.FwdCnt
	if c.peerCredit() > 0 {
		c.creditReqSent = false
	}
	switch h.Op {
	case VIRTIO_VSOCK_OP_RST:
		m.closeConn(c, false)
		return 0, nil
	case VIRTIO_VSOCK_OP_RESPONSE:
		if c.state != stateLocalInit {
			st.BadOp.Add(1)
			m.closeConn(c, true)
			return 0, nil
		}
		c.state = stateEstablished
		ok := "OK " + strconv.FormatUint(uint64(c.key.local), 10) + "\n"
		c.skip += len(ok)
		c.queueTx([]byte(ok))
		m.flush(c)
		return 0, nil
	case VIRTIO_VSOCK_OP_REQUEST:
		st.BadOp.Add(1) // a second request on a live connection
		m.closeConn(c, true)
		return 0, nil
	}
	if c.state != stateEstablished {
		st.BadOp.Add(1)
		m.closeConn(c, true)
		return 0, nil
	}
	switch h.Op {
	case VIRTIO_VSOCK_OP_RW:
		m.guestData(c, ch, h.Len)
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c.guestShut |= h.Flags & (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)
		m.afterTx(c)
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c.pend |= pendCreditUpdate
		m.makeReady(c)
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		m.makeReady(c) // the new credit may let data flow
	}
	return 0, nil
}

// refuse answers a bad packet with RST (never a RST with a RST), and
// drops the connection it names, if any.
func (m *muxer) refuse(h *hdr) {
	if c := m.conns[connKey{local: h.DstPort, peer: h.SrcPort}]; c != nil && h.SrcCID == m.d.cid {
		m.closeConn(c, h.Op != VIRTIO_VSOCK_OP_RST)
		return
	}
	if h.Op != VIRTIO_VSOCK_OP_RST {
		m.queueRST(h.DstPort, h.SrcPort)
	}
}

// guestData forwards n payload bytes of ch to c's host socket: straight
// from guest memory while the socket takes them, the rest into c's buffer.
func (m *muxer) guestData(c *conn, ch *virtio.Chain, n uint32) {
	if n == 0 {
		return
	}
	if c.guestShut&VIRTIO_VSOCK_SHUTDOWN_SEND != 0 {
		m.d.Stats.BadOp.Add(1) // data after the guest's own shutdown
		m.closeConn(c, true)
		return
	}
	if uint64(c.fromGuest-c.fwdCnt)+uint64(n) > BufAlloc {
		m.d.Stats.OverCredit.Add(1)
		m.closeConn(c, true)
		return
	}
	var err error
	m.iov, err = virtio.Slices(m.ctx.Mem, ch.Readable(), hdrSize, uint64(n), m.iov[:0])
	if err != nil {
		return // cannot happen: Len was checked against the chain
	}
	c.fromGuest += n
	m.d.Stats.FromGuest.Add(uint64(n))
	done := 0
	if c.pendingTx() == 0 && c.writable {
		w, err := writev(c.fd, m.iov)
		switch {
		case err == unix.EAGAIN:
			c.writable = false
		case err != nil:
			m.closeConn(c, true)
			return
		default:
			done = w
			m.forwarded(c, uint32(w))
		}
	}
	for _, s := range m.iov {
		if done >= len(s) {
			done -= len(s)
			continue
		}
		c.queueTx(s[done:])
		done = 0
	}
	// After a short write the socket is most likely full; flush finds out
	// (EAGAIN), so that edge-triggered epoll reports when it drains.
	m.flush(c)
}
