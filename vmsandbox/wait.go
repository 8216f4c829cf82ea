package vmsandbox

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/runtime"
)

// helloTimeout bounds one attempt's Hello exchange: a guest that accepts
// the connection and then says nothing (or trickles a frame) costs one
// attempt, never the whole create.
const helloTimeout = 5 * time.Second

// agentWait waits for a booting guest's agent: it connects until the
// agent answers the protocol's Hello, the VM stops, or timeout passes.
// What answers is the guest's, so anything may: garbage, a frame of
// 4 GiB, silence. Each of those fails one attempt (bounded by hello) and
// the wait goes on; it never hangs or panics.
type agentWait struct {
	dial    func() (net.Conn, error) // connects to the agent's port
	stopped func() (string, bool)    // why the VM stopped, once it has
	timeout time.Duration            // for the whole wait
	retry   time.Duration            // between attempts
	hello   time.Duration            // for one attempt's Hello exchange
	logf    func(format string, a ...any)
}

// wait returns a client whose Hello exchange succeeded, and its
// connection (for deadlines on the calls that follow).
func (w *agentWait) wait() (*proto.Client, net.Conn, error) {
	deadline := time.Now().Add(w.timeout)
	var bad error // the last answer that was not the agent protocol
	for {
		if why, ok := w.stopped(); ok {
			return nil, nil, fmt.Errorf("the VM stopped before its agent answered: %s", why)
		}
		if c, err := w.dial(); err == nil {
			cl, err := w.helloOn(c, deadline)
			switch {
			case err == nil:
				return cl, c, nil
			case errors.Is(err, errWaitOver):
				// says nothing about the guest; the deadline has passed
			default:
				if bad == nil || bad.Error() != err.Error() {
					w.logf("agent hello: %v", err) // once per distinct answer: a guest can repeat it forever
				}
				bad = err
			}
		}
		if !time.Now().Before(deadline) {
			err := fmt.Errorf("the guest's agent did not answer within %v (annotation %s)", w.timeout, runtime.AnnotationVMBootTimeout)
			if bad != nil {
				err = fmt.Errorf("%w; what answered did not speak the agent protocol: %v", err, bad)
			}
			return nil, nil, err
		}
		time.Sleep(min(w.retry, time.Until(deadline)))
	}
}

// errWaitOver is a Hello cut short by the whole wait's deadline.
var errWaitOver = errors.New("the wait's deadline passed")

// helloOn performs the Hello exchange on c within w.hello (and the
// wait's deadline); c is closed when it fails.
func (w *agentWait) helloOn(c net.Conn, deadline time.Time) (*proto.Client, error) {
	d, cut := time.Now().Add(w.hello), false
	if deadline.Before(d) {
		d, cut = deadline, true
	}
	if err := c.SetDeadline(d); err != nil {
		c.Close()
		return nil, err
	}
	cl, err := proto.NewClient(c) // closes c on failure
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout() && cut:
			err = errWaitOver
		case errors.As(err, &ne) && ne.Timeout():
			err = fmt.Errorf("no Hello within %v", w.hello)
		}
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}
