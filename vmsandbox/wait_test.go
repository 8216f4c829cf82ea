package vmsandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullvm/hull/agent/proto"
)

// A guest answers the agent's port with whatever it likes. Each answer
// here must fail its attempt with a clear error, the wait must go on
// until the boot timeout and then say what answered; never hang, never
// panic.

// guest is a fake guest side: each dial gets a net.Pipe whose far end
// serve handles (what the client writes is read and dropped unless serve
// reads it itself).
type guest struct {
	serve func(n int, c net.Conn) // n: 1-based attempt
	dials atomic.Int32
	wg    sync.WaitGroup
}

func (g *guest) dial() (net.Conn, error) {
	n := int(g.dials.Add(1))
	near, far := net.Pipe()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer far.Close()
		g.serve(n, far)
	}()
	return near, nil
}

// answer reads the client's Hello frame (so its write completes), then
// writes b and keeps the pipe open until the client closes it.
func answer(b []byte) func(int, net.Conn) {
	return func(_ int, c net.Conn) {
		if _, err := proto.ReadFrame(c); err != nil {
			return
		}
		c.Write(b)
		io.Copy(io.Discard, c) // until the client gives up on us
	}
}

func frame(payload string) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

func newWait(g *guest) *agentWait {
	return &agentWait{
		dial:    g.dial,
		stopped: func() (string, bool) { return "", false },
		timeout: 400 * time.Millisecond,
		retry:   5 * time.Millisecond,
		hello:   50 * time.Millisecond,
		logf:    func(string, ...any) {},
	}
}

func TestWaitAgentGarbage(t *testing.T) {
	cases := []struct {
		name  string
		serve func(int, net.Conn)
		want  string // in the final error
	}{
		{"text", answer([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")), "frame larger than MaxFrame"},
		{"huge length", answer([]byte{0xff, 0xff, 0xff, 0xff, 'x'}), "frame larger than MaxFrame"},
		{"empty frame", answer([]byte{0, 0, 0, 0}), "empty frame"},
		{"bad JSON", answer(frame(`{"version": [`)), "agent protocol: bad"},
		{"JSON of the wrong shape", answer(frame(`[1, 2, 3]`)), "agent protocol: bad"},
		{"other major version", answer(frame(`{"version":{"major":99,"minor":0}}`)), "version mismatch"},
		{"half a frame, then close", func(_ int, c net.Conn) {
			proto.ReadFrame(c)
			c.Write([]byte{0, 0, 1, 0, '{'})
		}, "unexpected EOF"},
		{"trickle", func(_ int, c net.Conn) {
			proto.ReadFrame(c)
			for _, b := range []byte{0, 0, 1, 0, '{', '"'} {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			io.Copy(io.Discard, c)
		}, "no Hello within"},
		{"silence", func(_ int, c net.Conn) { io.Copy(io.Discard, c) }, "no Hello within"},
		{"close at once", func(int, net.Conn) {}, "closed pipe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &guest{serve: c.serve}
			w := newWait(g)
			start := time.Now()
			cl, conn, err := w.wait()
			took := time.Since(start)
			g.wg.Wait() // every fake guest connection was closed by the client
			if err == nil {
				cl.Close()
				t.Fatalf("wait succeeded on %s (conn %v)", c.name, conn)
			}
			msg := err.Error()
			if !strings.Contains(msg, "did not answer within 400ms") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want the boot timeout and %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			if took > w.timeout+w.hello+time.Second {
				t.Errorf("wait took %v with a %v timeout", took, w.timeout)
			}
			if g.dials.Load() < 2 {
				t.Errorf("%d attempts: want the wait to retry after a bad answer", g.dials.Load())
			}
		})
	}
}

// TestWaitAgentRetriesUntilAnswered: garbage on the first attempts, then a
// real agent: the wait returns a working client.
func TestWaitAgentRetriesUntilAnswered(t *testing.T) {
	g := &guest{serve: func(n int, c net.Conn) {
		if n <= 3 {
			answer([]byte("garbage"))(n, c)
			return
		}
		pc := proto.NewConn(c)
		if _, err := pc.ServerHello("fake-agent"); err != nil {
			return
		}
		pc.Serve(func(proto.Op, any, []*os.File) (any, []*os.File, error) {
			return map[string]int{"pid": 42}, nil, nil
		})
	}}
	w := newWait(g)
	w.timeout = 5 * time.Second
	var logged []string
	w.logf = func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	cl, conn, err := w.wait()
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if cl.Agent != "fake-agent" || g.dials.Load() != 4 {
		t.Errorf("agent %q after %d attempts, want fake-agent after 4", cl.Agent, g.dials.Load())
	}
	// The Hello's deadline is gone: a call after longer than it works.
	time.Sleep(2 * w.hello)
	var res proto.CreateResult
	if _, err := cl.Call(proto.OpState, &proto.IDArgs{ID: "c"}, &res); err != nil || res.Pid != 42 {
		t.Errorf("call after the wait: %+v, %v", res, err)
	}
	cl.Close()
	conn.Close()
	g.wg.Wait()
	// Three identical bad answers are logged once.
	if len(logged) != 1 || !strings.Contains(logged[0], "agent hello") {
		t.Errorf("logged %q, want one agent hello line", logged)
	}
}

// TestWaitAgentVMStopped: a VM that stops ends the wait at once with its
// reason; dial errors (nothing listening yet) are retried quietly.
func TestWaitAgentVMStopped(t *testing.T) {
	var tries atomic.Int32
	w := &agentWait{
		dial: func() (net.Conn, error) { tries.Add(1); return nil, errors.New("connection refused") },
		stopped: func() (string, bool) {
			if tries.Load() >= 3 {
				return "reset (i8042)", true
			}
			return "", false
		},
		timeout: 10 * time.Second, retry: time.Millisecond, hello: time.Second,
		logf: func(f string, a ...any) { t.Errorf("logged "+f, a...) },
	}
	start := time.Now()
	_, _, err := w.wait()
	if err == nil || !strings.Contains(err.Error(), "the VM stopped before its agent answered: reset (i8042)") {
		t.Fatalf("wait: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v to notice the stop", time.Since(start))
	}
}

// TestWaitAgentTimeoutWithoutAnswer: nothing ever listens: the error says
// the timeout and its annotation, and nothing about a protocol.
func TestWaitAgentTimeoutWithoutAnswer(t *testing.T) {
	w := newWait(&guest{})
	w.dial = func() (net.Conn, error) { return nil, errors.New("vsock port 1025: no answer to CONNECT: EOF") }
	_, _, err := w.wait()
	want := "the guest's agent did not answer within 400ms (annotation hull.vm.boot_timeout)"
	if err == nil || err.Error() != want {
		t.Fatalf("wait: %v, want %q", err, want)
	}
}
