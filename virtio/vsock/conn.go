package vsock

// connKey names a connection the way packets do: the host-side port and
// the guest-side port (the guest's CID is the device's, the host's is 2).
type connKey struct {
	local uint32 // host side: the port the guest connected to, or one we picked
	peer  uint32 // guest side
}

type connState int

const (
	// stateConnectLine: a host client accepted on udsPath, its
	// "CONNECT <port>\n" not read in full yet. It has no key.
	stateConnectLine connState = iota
	// stateLocalInit: host-initiated, REQUEST sent or to send, waiting for
	// the guest's RESPONSE.
	stateLocalInit
	// stateEstablished: data flows.
	stateEstablished
)

// Control packets a connection owes the guest: request and response go
// before any data, a credit update after (or with) it.
const (
	pendRequest = 1 << iota
	pendResponse
	pendCreditUpdate
)

// conn is one connection: a host socket and the guest's end. Only the
// muxer goroutine touches it.
type conn struct {
	fd    int
	key   connKey
	state connState
	line  []byte // stateConnectLine: bytes read so far
	pend  uint8  // pend* bits
	// inReady: in the muxer's ready list. closed: removed; a stale entry
	// in the ready list is skipped.
	inReady, closed bool

	// Host socket readiness, as edge-triggered epoll reported it; cleared
	// by EAGAIN.
	readable, writable bool
	hostEOF            bool   // the host client shut its writing half; SHUTDOWN sent
	guestShut          uint32 // VIRTIO_VSOCK_SHUTDOWN_* the guest sent
	hostWrShut         bool   // shutdown(SHUT_WR) done on the host socket
	creditReqSent      bool   // CREDIT_REQUEST sent since the last credit the guest gave

	// Host → guest credit (§5.10.6.3): the guest's buffer and what it has
	// consumed, as its last packet said, and what we have sent it.
	peerBufAlloc, peerFwdCnt uint32
	toGuest                  uint32

	// Guest → host: what the guest sent, what reached the host socket
	// (fwd_cnt), and the fwd_cnt the guest last heard of.
	fromGuest, fwdCnt, lastFwdSent uint32
	// txBuf[txOff:] is guest data (after skip bytes of our own, the
	// "OK <port>\n" answer) waiting for the host socket to take it; at
	// most BufAlloc bytes of guest data, by credit.
	txBuf []byte
	txOff int
	skip  int
}

// peerCredit is how many payload bytes the guest can take now. A guest
// that shrank buf_alloc below what is in flight has none.
func (c *conn) peerCredit() uint32 {
	inFlight := c.toGuest - c.peerFwdCnt
	if inFlight >= c.peerBufAlloc {
		return 0
	}
	return c.peerBufAlloc - inFlight
}

// pendingTx is the number of bytes waiting for the host socket.
func (c *conn) pendingTx() int { return len(c.txBuf) - c.txOff }

// queueTx keeps p for the host socket. The caller checked credit, so at
// most BufAlloc bytes of guest data (plus the short OK line) are held.
func (c *conn) queueTx(p []byte) {
	if c.txOff > 0 && len(c.txBuf)+len(p) > cap(c.txBuf) {
		n := copy(c.txBuf, c.txBuf[c.txOff:])
		c.txBuf, c.txOff = c.txBuf[:n], 0
	}
	if c.txBuf == nil {
		c.txBuf = make([]byte, 0, BufAlloc+maxConnectLine)
	}
	c.txBuf = append(c.txBuf, p...)
}

// consumedTx drops n bytes written to the host socket and returns how
// many of them were guest data.
func (c *conn) consumedTx(n int) uint32 {
	c.txOff += n
	own := min(n, c.skip)
	c.skip -= own
	if c.txOff == len(c.txBuf) {
		c.txBuf, c.txOff = c.txBuf[:0], 0
	}
	return uint32(n - own)
}

// needCreditUpdate reports whether the guest should hear of freed space
// unasked: it thinks less than one maximal packet is free, and more is.
func (c *conn) needCreditUpdate() bool {
	seen := c.fromGuest - c.lastFwdSent // unconsumed, as far as the guest knows
	return c.fwdCnt != c.lastFwdSent && seen > BufAlloc-VIRTIO_VSOCK_MAX_PKT_BUF_SIZE
}
