package vsock

import "time"

// Handshake deadlines. Two things a peer can leave hanging hold a
// connection slot (and a host client) for ever: a host client that never
// writes its CONNECT line, and a guest that never answers a host-initiated
// REQUEST. Each gets a fixed timeout from Options, so deadlines are
// appended to their queue in time order and only a queue's head can be
// due; entries whose connection moved on (closed, or past that state) are
// dropped when they reach the head. One Go timer wakes the muxer for the
// earliest deadline through the eventfd, as a kick does. With no handshake
// pending the muxer reads no clock.

// deadline is when c must have left the state its queue is for.
type deadline struct {
	c  *conn
	at time.Time
}

// head drops the stale entries at the head of q and returns the first live
// one; ok is false when q is empty.
func head(q *[]deadline, st connState) (deadline, bool) {
	for len(*q) > 0 {
		e := (*q)[0]
		if !e.c.closed && e.c.state == st {
			return e, true
		}
		popDeadline(q)
	}
	return deadline{}, false
}

func popDeadline(q *[]deadline) {
	(*q)[0] = deadline{} // let the connection go
	*q = (*q)[1:]
	if len(*q) == 0 {
		*q = (*q)[:0:0] // and a burst's backing array
	}
}

func clearDeadlines(q *[]deadline) {
	clear(*q)
	*q = (*q)[:0]
}

// expire closes the connections whose handshake is overdue: a host client
// without its CONNECT line is closed; for an unanswered REQUEST the host
// client is closed (it reads EOF instead of "OK <port>\n", as after a
// guest's refusal) and the guest gets RST, so that a late RESPONSE finds
// nothing and a guest socket in SYN state is freed.
func (m *muxer) expire() {
	if len(m.connectQ) == 0 && len(m.requestQ) == 0 {
		return
	}
	now := time.Now()
	for {
		e, ok := head(&m.connectQ, stateConnectLine)
		if !ok || now.Before(e.at) {
			break
		}
		popDeadline(&m.connectQ)
		m.d.Stats.ConnectTimeout.Add(1)
		m.closeConn(e.c, false)
	}
	for {
		e, ok := head(&m.requestQ, stateLocalInit)
		if !ok || now.Before(e.at) {
			break
		}
		popDeadline(&m.requestQ)
		m.d.Stats.RequestTimeout.Add(1)
		m.closeConn(e.c, true)
	}
}

// armTimer sets the timer for the earliest pending deadline, or stops it
// when there is none.
func (m *muxer) armTimer() {
	var next time.Time
	if e, ok := head(&m.connectQ, stateConnectLine); ok {
		next = e.at
	}
	if e, ok := head(&m.requestQ, stateLocalInit); ok && (next.IsZero() || e.at.Before(next)) {
		next = e.at
	}
	if next.IsZero() {
		m.stopTimer()
		return
	}
	now := time.Now()
	if next.Equal(m.timerAt) && now.Before(next) {
		return // set for it already, and not fired yet
	}
	m.timerAt = next
	if m.timer == nil {
		m.timer = time.AfterFunc(next.Sub(now), m.d.timerWake)
		return
	}
	m.timer.Reset(next.Sub(now))
}

func (m *muxer) stopTimer() {
	if m.timer != nil && !m.timerAt.IsZero() {
		m.timer.Stop()
	}
	m.timerAt = time.Time{}
}
