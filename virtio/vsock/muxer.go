package vsock

import (
	"fmt"
	"github.com/hullvm/hull/internal/epoll"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// muxer is the device's one goroutine's state: queues, connections, host
// sockets (see the package documentation's Concurrency section).
type muxer struct {
	d   *Device
	ctx *virtio.ActivationContext // nil when inactive

	conns map[connKey]*conn // by key: connections past the CONNECT line
	byFD  map[int32]*conn   // every connection, by host socket
	ready []*conn           // connections that may have rx work, FIFO
	stray []hdr             // RSTs for no connection, at most maxStrayRST

	nextPort    uint32 // last host port picked for a host-initiated connection
	listenerOff bool   // the listener is out of the epoll set (accept ran out of fds)

	// Handshakes waiting with a deadline, oldest first (timeout.go), and
	// the one timer that wakes the muxer for the earliest.
	connectQ []deadline // host clients in stateConnectLine
	requestQ []deadline // host-initiated REQUESTs the guest has not answered
	timer    *time.Timer
	timerAt  time.Time // what timer is set for; zero when stopped

	// eventPending: a TRANSPORT_RESET event waits for an event buffer.
	eventPending bool
	// paused: the transport is paused (state.go): the muxer serves its
	// host sockets but leaves the queues and guest memory alone. kicks
	// wait in kicked. rxSignal: pause gave rx chains back; resume
	// signals the driver.
	paused   bool
	rxSignal bool
	evChain  virtio.Chain

	// rxChains[:nHeld] were popped from the rx queue and not used yet;
	// the rest are spare Chain values (their Bufs arrays are reused).
	rxChains []virtio.Chain
	nHeld    int
	rxUsed   bool // fillRx returned a chain: signal
	txChain  virtio.Chain
	iov      [][]byte
	events   [64]unix.EpollEvent
}

func (m *muxer) init(d *Device) {
	m.d = d
	m.conns = make(map[connKey]*conn)
	m.byFD = make(map[int32]*conn)
	m.nextPort = firstLocalPort - 1
	m.rxChains = make([]virtio.Chain, rxBatch)
}

// run is the muxer goroutine.
func (m *muxer) run() {
	d := m.d
	defer close(d.done)
	for {
		n, err := d.poll.Wait(m.events[:])
		if err != nil {
			d.setHostErr(fmt.Errorf("vsock: epoll_wait: %w", err))
			m.shutdown()
			return
		}
		for _, ev := range m.events[:n] {
			switch int(ev.Fd) {
			case d.wakefd:
				if m.wakeup() {
					return
				}
			case d.lfd:
				m.acceptAll()
			default:
				if c := m.byFD[ev.Fd]; c != nil {
					m.hostEvent(c, ev.Events)
				}
			}
		}
		m.expire()
		m.serve()
		m.armTimer()
	}
}

// shutdown ends the muxer after a fatal error: pending and later commands
// are answered at once.
func (m *muxer) shutdown() {
	m.closeAll()
	m.stopTimer()
	m.ctx = nil
	m.d.cmdMu.Lock()
	m.d.stopped = true
	cmds := m.d.cmds
	m.d.cmds = nil
	m.d.cmdMu.Unlock()
	for _, c := range cmds {
		close(c.done)
	}
}

// wakeup handles the eventfd: commands, then kicks. It reports whether the
// muxer must return.
func (m *muxer) wakeup() bool {
	var b [8]byte
	if _, err := unix.Read(m.d.wakefd, b[:]); err != nil && err != unix.EAGAIN && err != unix.EINTR {
		m.d.setHostErr(fmt.Errorf("vsock: reading the eventfd: %w", err))
	}
	for _, c := range m.d.takeCommands() {
		switch c.kind {
		case cmdActivate, cmdActivateRestored:
			m.ctx = c.ctx
			m.paused = c.ctx.Paused
			// Restored: the snapshot's connections are gone on this
			// host; the event makes the guest reset its sockets (and
			// re-read its CID, which may be new).
			m.eventPending = c.kind == cmdActivateRestored
			m.d.kicked.Store(1<<rxq | 1<<txq) // look at whatever the driver posted already
		case cmdReset:
			m.closeAll()
			m.ctx = nil
			m.paused, m.rxSignal = false, false
			m.eventPending = false
		case cmdPause:
			m.pause()
		case cmdResume:
			m.resume()
		case cmdStop:
			m.closeAll()
			m.stopTimer()
			m.ctx = nil
			close(c.done)
			return true
		case cmdTransportReset:
			m.transportReset()
		}
		close(c.done)
	}
	return false
}

// serve does the queue work after a round of events: the tx queue if it
// was kicked, then as many rx packets as the guest has buffers for.
func (m *muxer) serve() {
	if m.ctx == nil {
		m.d.kicked.Store(0)
		return
	}
	if m.d.Err() != nil {
		m.ctx = nil // a host failure: stop serving, the VMM stops the VM
		return
	}
	if m.paused {
		return // the kicks wait in kicked
	}
	k := m.d.kicked.Swap(0)
	if k&(1<<txq) != 0 {
		q := m.ctx.Queues[txq]
		if err := q.Process(&m.txChain, m.handleTx); err != nil {
			m.d.setHostErr(err)
			return
		}
	}
	if m.eventPending {
		if err := m.sendEvent(); err != nil {
			m.d.setHostErr(err)
			return
		}
	}
	if err := m.fillRx(); err != nil {
		m.d.setHostErr(err)
	}
}

// acceptAll takes every pending host client. Beyond MaxConns a client is
// closed at once; the others get Options.ConnectTimeout for their CONNECT
// line.
func (m *muxer) acceptAll() {
	var at time.Time // the new clients' deadline: one clock read per round
	for {
		fd, err := accept(m.d.lfd)
		if err != nil {
			switch err {
			case unix.ECONNABORTED, unix.EPROTO:
				continue // that client is gone
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				// Out of descriptors: the listener would stay readable
				// and the muxer spin. Stop watching it until a connection
				// closes; the clients wait in the backlog.
				m.d.Stats.AcceptFailed.Add(1)
				if unix.EpollCtl(m.d.epfd, unix.EPOLL_CTL_DEL, m.d.lfd, nil) == nil {
					m.listenerOff = true
				}
			}
			return // EAGAIN: none left
		}
		if len(m.byFD) >= m.d.opts.MaxConns {
			m.d.Stats.ConnCap.Add(1)
			_ = unix.Close(fd) // refused; nothing to report to anyone
			continue
		}
		c := &conn{fd: fd, state: stateConnectLine}
		if err := m.register(c); err != nil {
			continue
		}
		m.d.Stats.HostConns.Add(1)
		if at.IsZero() {
			at = time.Now().Add(m.d.opts.ConnectTimeout)
		}
		m.connectQ = append(m.connectQ, deadline{c: c, at: at})
	}
}

// register adds c's socket to epoll (edge-triggered) and the table.
func (m *muxer) register(c *conn) error {
	if err := epoll.Add(m.d.epfd, c.fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET); err != nil {
		_ = unix.Close(c.fd) // cannot watch it: drop the connection
		return err
	}
	m.byFD[int32(c.fd)] = c
	m.d.Stats.Conns.Add(1)
	return nil
}

// closeConn forgets c and closes its host socket; with rst the guest is
// told (a connection it knows of).
func (m *muxer) closeConn(c *conn, rst bool) {
	if c.closed {
		return
	}
	c.closed = true
	delete(m.byFD, int32(c.fd))
	if c.state != stateConnectLine {
		delete(m.conns, c.key)
	}
	// Closing the fd removes it from the epoll set.
	_ = unix.Close(c.fd) // a close error on a socket loses nothing
	m.d.Stats.Conns.Add(-1)
	if m.listenerOff && epoll.Add(m.d.epfd, m.d.lfd, unix.EPOLLIN) == nil {
		m.listenerOff = false // a descriptor is free again
	}
	if rst && c.state != stateConnectLine {
		m.queueRST(c.key.local, c.key.peer)
	}
}

func (m *muxer) closeAll() {
	for _, c := range m.byFD {
		m.closeConn(c, false)
	}
	m.ready, m.stray, m.nHeld = m.ready[:0], m.stray[:0], 0
	clearDeadlines(&m.connectQ)
	clearDeadlines(&m.requestQ)
}

// queueRST queues a reset from host port local to guest port peer.
func (m *muxer) queueRST(local, peer uint32) {
	if len(m.stray) >= maxStrayRST {
		m.d.Stats.RSTDropped.Add(1)
		return
	}
	m.stray = append(m.stray, hdr{SrcPort: local, DstPort: peer, Op: VIRTIO_VSOCK_OP_RST})
}

// makeReady puts c in the ready list if it has something for the guest.
func (m *muxer) makeReady(c *conn) {
	if !c.inReady && !c.closed && m.hasRx(c) {
		c.inReady = true
		m.ready = append(m.ready, c)
	}
}

// hostEvent handles epoll's report for c's socket.
func (m *muxer) hostEvent(c *conn, ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.readable = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.writable = true
	}
	if c.state == stateConnectLine {
		if c.readable {
			m.readConnectLine(c)
		}
		return
	}
	if c.writable && c.pendingTx() > 0 {
		m.flush(c)
	}
	m.makeReady(c)
}

// readConnectLine reads "CONNECT <port>\n" byte by byte (what follows the
// newline is the stream's, and stays in the socket), then sends the guest
// a REQUEST from a host port of our choice.
func (m *muxer) readConnectLine(c *conn) {
	var b [1]byte
	for {
		n, err := unix.Read(c.fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			c.readable = false
			return
		}
		if err != nil || n == 0 || len(c.line) >= maxConnectLine {
			m.d.Stats.BadConnect.Add(1)
			m.closeConn(c, false)
			return
		}
		if b[0] != '\n' {
			c.line = append(c.line, b[0])
			continue
		}
		port, ok := parseConnect(string(c.line))
		if !ok {
			m.d.Stats.BadConnect.Add(1)
			m.closeConn(c, false)
			return
		}
		c.line = nil
		c.key = connKey{local: m.pickPort(port), peer: port}
		c.state = stateLocalInit
		c.pend |= pendRequest
		m.conns[c.key] = c
		m.makeReady(c)
		return
	}
}

// parseConnect parses Firecracker's "CONNECT <port>" (the keyword in any
// case, a decimal 32-bit port).
func parseConnect(line string) (uint32, bool) {
	f := strings.Fields(line)
	if len(f) != 2 || !strings.EqualFold(f[0], "CONNECT") {
		return 0, false
	}
	p, err := strconv.ParseUint(f[1], 10, 32)
	return uint32(p), err == nil
}

// pickPort returns the next free host port in [1<<30, 1<<31) for a
// connection to guest port peer. At most MaxConns ports are taken, so the
// loop ends.
func (m *muxer) pickPort(peer uint32) uint32 {
	for {
		m.nextPort++
		if m.nextPort >= 1<<31 {
			m.nextPort = firstLocalPort
		}
		if m.conns[connKey{local: m.nextPort, peer: peer}] == nil {
			return m.nextPort
		}
	}
}

// guestConnect handles a guest REQUEST to host port h.DstPort: connect to
// "<path>_<port>", answer RESPONSE, or RST when nothing listens.
func (m *muxer) guestConnect(h *hdr) {
	if len(m.byFD) >= m.d.opts.MaxConns {
		m.d.Stats.ConnCap.Add(1)
		m.queueRST(h.DstPort, h.SrcPort)
		return
	}
	fd, err := connectUnix(m.d.path + "_" + strconv.FormatUint(uint64(h.DstPort), 10))
	if err != nil {
		m.d.Stats.Refused.Add(1)
		m.queueRST(h.DstPort, h.SrcPort)
		return
	}
	c := &conn{
		fd: fd, key: connKey{local: h.DstPort, peer: h.SrcPort}, state: stateEstablished,
		pend: pendResponse, peerBufAlloc: h.BufAlloc, peerFwdCnt: h.FwdCnt,
	}
	if err := m.register(c); err != nil {
		m.queueRST(h.DstPort, h.SrcPort)
		return
	}
	m.d.Stats.GuestConns.Add(1)
	m.conns[c.key] = c
	m.makeReady(c)
}

// flush writes held guest data to the host socket while it takes it, then
// completes a guest shutdown the data was waiting for.
func (m *muxer) flush(c *conn) {
	for c.pendingTx() > 0 && c.writable {
		m.iov = append(m.iov[:0], c.txBuf[c.txOff:])
		n, err := writev(c.fd, m.iov)
		if err == unix.EAGAIN {
			c.writable = false
			break
		}
		if err != nil {
			m.closeConn(c, true) // EPIPE, ECONNRESET: the host end is gone
			return
		}
		m.forwarded(c, c.consumedTx(n))
	}
	m.afterTx(c)
}

// forwarded accounts n guest bytes as taken by the host socket.
func (m *muxer) forwarded(c *conn, n uint32) {
	c.fwdCnt += n
	if c.needCreditUpdate() {
		c.pend |= pendCreditUpdate
	}
}

// afterTx applies the guest's shutdown once its data is all out, and
// queues a credit update if one is due.
func (m *muxer) afterTx(c *conn) {
	if c.closed {
		return
	}
	if c.pendingTx() == 0 {
		switch {
		case c.guestShut&(VIRTIO_VSOCK_SHUTDOWN_RCV|VIRTIO_VSOCK_SHUTDOWN_SEND) == VIRTIO_VSOCK_SHUTDOWN_RCV|VIRTIO_VSOCK_SHUTDOWN_SEND:
			// Both halves closed: close the host socket and confirm with
			// RST, which the guest's close waits for (Linux: up to 8 s).
			m.closeConn(c, true)
			return
		case c.guestShut&VIRTIO_VSOCK_SHUTDOWN_SEND != 0 && !c.hostWrShut:
			c.hostWrShut = true
			if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
				m.closeConn(c, true)
				return
			}
		}
	}
	m.makeReady(c)
}
