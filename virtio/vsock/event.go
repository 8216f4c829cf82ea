package vsock

import (
	"encoding/binary"

	"github.com/hullvm/hull/virtio"
)

// transportReset runs Device.TransportReset on the muxer: every connection
// the guest knows of is closed on the host side without RST (the event
// makes the guest reset its sockets itself), and the event is queued.
// Rx chains already popped stay held: the queues live on.
func (m *muxer) transportReset() {
	if m.ctx == nil {
		return
	}
	for _, c := range m.byFD {
		if c.state != stateConnectLine {
			m.closeConn(c, false)
		}
	}
	clear(m.stray) // answers for connections the guest is about to forget
	m.stray = m.stray[:0]
	clearDeadlines(&m.requestQ)
	m.eventPending = true
}

// sendEvent puts the pending TRANSPORT_RESET event in the next event
// buffer. Without one it re-arms notifications and waits for the driver
// to post one (its kick runs serve, which calls sendEvent again). Chains
// too short for an event are returned empty and counted. The error is a
// host-side interrupt failure.
func (m *muxer) sendEvent() error {
	var q *virtio.Queue
	if len(m.ctx.Queues) > eventq {
		q = m.ctx.Queues[eventq]
	}
	if q == nil {
		m.eventPending = false // no event queue enabled: nobody to tell
		return nil
	}
	for m.eventPending {
		if !q.Pop(&m.evChain) {
			if q.Broken() {
				m.eventPending = false // NEEDS_RESET: the driver starts over
				break
			}
			if !q.EnableNotify() {
				break
			}
			continue
		}
		if m.evChain.WriteLen < eventSize {
			m.d.Stats.BadEventBuffer.Add(1)
			q.PushUsed(m.evChain.Head, 0)
			continue
		}
		var ev [eventSize]byte
		binary.LittleEndian.PutUint32(ev[:], VIRTIO_VSOCK_EVENT_TRANSPORT_RESET)
		if err := virtio.WriteTo(m.ctx.Mem, m.evChain.Writable(), 0, ev[:]); err != nil {
			q.PushUsed(m.evChain.Head, 0) // cannot happen: WriteLen was checked
			continue
		}
		q.PushUsed(m.evChain.Head, eventSize)
		m.eventPending = false
		m.d.Stats.TransportResets.Add(1)
	}
	return q.Signal()
}
