package proto

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Conn is one end of a connection: frames, plus descriptors where the
// transport is a Unix socket. Reads and writes may run concurrently with
// each other, not with themselves.
type Conn struct {
	c  net.Conn
	uc *net.UnixConn // nil on other transports: no descriptors

	wmu sync.Mutex
	// pending holds descriptors received but not yet claimed by a frame.
	pending []*os.File
	oob     []byte
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	uc, _ := c.(*net.UnixConn)
	return &Conn{c: c, uc: uc}
}

// Close closes the connection and any descriptors received and unclaimed.
func (c *Conn) Close() error {
	c.dropPending()
	return c.c.Close()
}

// Raw is the underlying connection (a stream connection's bytes after the
// Hello exchange).
func (c *Conn) Raw() net.Conn { return c.c }

// CanPassFDs reports whether the transport carries descriptors.
func (c *Conn) CanPassFDs() bool { return c.uc != nil }

// Read implements io.Reader over the transport, collecting descriptors.
func (c *Conn) Read(p []byte) (int, error) {
	if c.uc == nil {
		return c.c.Read(p)
	}
	if c.oob == nil {
		c.oob = make([]byte, unix.CmsgSpace(MaxFDs*4))
	}
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(p, c.oob)
	if oobn > 0 {
		c.collect(c.oob[:oobn])
	}
	if err == nil && flags&unix.MSG_CTRUNC != 0 {
		err = ErrTooManyFDs
	}
	return n, err
}

func (c *Conn) collect(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(c.pending) >= MaxFDs {
				unix.Close(fd)
				continue
			}
			c.pending = append(c.pending, os.NewFile(uintptr(fd), "passed-fd"))
		}
	}
}

func (c *Conn) dropPending() {
	for _, f := range c.pending {
		f.Close()
	}
	c.pending = nil
}

// claim takes the n descriptors a frame announced. Missing ones are an
// error; extra ones are closed.
func (c *Conn) claim(n int) ([]*os.File, error) {
	if n < 0 || n > MaxFDs {
		c.dropPending()
		return nil, ErrTooManyFDs
	}
	if n > len(c.pending) {
		got := len(c.pending)
		c.dropPending()
		return nil, fmt.Errorf("agent protocol: frame announced %d descriptors, %d arrived", n, got)
	}
	fds := c.pending[:n:n]
	for _, f := range c.pending[n:] {
		f.Close()
	}
	c.pending = nil
	return fds, nil
}

// send writes v as one frame with files attached.
func (c *Conn) send(v any, files []*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("agent protocol: encoding %T: %w", v, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(files) == 0 {
		return writeRaw(c.c, b)
	}
	if c.uc == nil {
		return errors.New("agent protocol: descriptors need a Unix socket")
	}
	if len(files) > MaxFDs {
		return ErrTooManyFDs
	}
	if len(b) > MaxFrame {
		return ErrFrameTooLarge
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	buf := make([]byte, headerLen+len(b))
	buf[0], buf[1], buf[2], buf[3] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
	copy(buf[headerLen:], b)
	// The descriptors ride with the first byte; the rest is plain writes.
	if _, _, err := c.uc.WriteMsgUnix(buf[:1], unix.UnixRights(fds...), nil); err != nil {
		return err
	}
	_, err = c.c.Write(buf[1:])
	return err
}

// recv reads one frame into v and returns the descriptors it announced.
func (c *Conn) recv(v any, fdsOf func() int) ([]*os.File, error) {
	b, err := ReadFrame(c)
	if err != nil {
		c.dropPending()
		return nil, err
	}
	if err := decode(b, v); err != nil {
		c.dropPending()
		return nil, err
	}
	return c.claim(fdsOf())
}

// SendRequest writes a request; r.FDs is set from files.
func (c *Conn) SendRequest(r *Request, files []*os.File) error {
	r.FDs = len(files)
	return c.send(r, files)
}

// RecvRequest reads a request and the descriptors it carries.
func (c *Conn) RecvRequest() (*Request, []*os.File, error) {
	var r Request
	fds, err := c.recv(&r, func() int { return r.FDs })
	if err != nil {
		return nil, nil, err
	}
	return &r, fds, nil
}

// SendResponse writes a response; r.FDs is set from files.
func (c *Conn) SendResponse(r *Response, files []*os.File) error {
	r.FDs = len(files)
	return c.send(r, files)
}

// RecvResponse reads a response and the descriptors it carries.
func (c *Conn) RecvResponse() (*Response, []*os.File, error) {
	var r Response
	fds, err := c.recv(&r, func() int { return r.FDs })
	if err != nil {
		return nil, nil, err
	}
	return &r, fds, nil
}

// ClientHello sends the client's Hello and checks the agent's answer.
func (c *Conn) ClientHello(role Role, stream *StreamID) (*Hello, error) {
	if err := c.send(&Hello{Version: Version, Role: role, Stream: stream}, nil); err != nil {
		return nil, err
	}
	var h Hello
	if _, err := c.recv(&h, func() int { return 0 }); err != nil {
		return nil, fmt.Errorf("agent protocol: reading the agent's hello: %w", err)
	}
	if h.Error != nil {
		return nil, h.Error
	}
	if h.Version.Major != Version.Major {
		return nil, fmt.Errorf("%w: agent speaks %s, this runtime %s", ErrVersion, h.Version, Version)
	}
	return &h, nil
}

// ServerHello reads a client's Hello and answers it; a client of another
// major version gets an error Hello and ErrVersion.
func (c *Conn) ServerHello(agent string) (*Hello, error) {
	var h Hello
	if _, err := c.recv(&h, func() int { return 0 }); err != nil {
		return nil, err
	}
	reply := &Hello{Version: Version, Role: h.Role, Agent: agent}
	var bad error
	switch {
	case h.Version.Major != Version.Major:
		bad = fmt.Errorf("%w: runtime speaks %s, this agent %s", ErrVersion, h.Version, Version)
		reply.Error = Errorf(CodeVersion, "%v", bad)
	case h.Role != RoleControl && h.Role != RoleStream:
		bad = fmt.Errorf("agent protocol: unknown role %q", clip(string(h.Role)))
		reply.Error = Errorf(CodeBadRequest, "%v", bad)
	case h.Role == RoleStream && (h.Stream == nil || checkStream(h.Stream) != nil):
		bad = fmt.Errorf("agent protocol: bad stream connection")
		reply.Error = Errorf(CodeBadRequest, "%v", bad)
	}
	if err := c.send(reply, nil); err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	return &h, nil
}

func checkStream(s *StreamID) error {
	if err := checkIDs(s.Container, s.Exec); err != nil {
		return err
	}
	switch s.Stream {
	case "stdin", "stdout", "stderr":
		return nil
	}
	return fmt.Errorf("unknown stream %q", clip(s.Stream))
}

// Client is the runtime's end of a control connection: one call at a time.
type Client struct {
	conn  *Conn
	mu    sync.Mutex
	seq   uint64
	Agent string // the agent's self-description from its Hello
	// Version is the agent's protocol version from its Hello.
	Version ProtocolVersion
}

// NewClient performs the Hello exchange on c.
func NewClient(c net.Conn) (*Client, error) {
	conn := NewConn(c)
	h, err := conn.ClientHello(RoleControl, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Client{conn: conn, Agent: h.Agent, Version: h.Version}, nil
}

// Close closes the connection.
func (cl *Client) Close() error { return cl.conn.Close() }

// Call performs op with args (nil for none) and files, decodes the result
// into result (nil to ignore it) and returns the descriptors the response
// carried. An agent-side failure is an *Error.
func (cl *Client) Call(op Op, args, result any, files ...*os.File) ([]*os.File, error) {
	recv, err := cl.Send(op, args, files...)
	if err != nil {
		return nil, err
	}
	return recv(result)
}

// Send sends a request and returns the function that reads its response
// (which must be called, exactly once: the connection is held until
// then). It lets a caller be sure the agent has a request, such as a
// wait, before it does something else.
func (cl *Client) Send(op Op, args any, files ...*os.File) (func(result any) ([]*os.File, error), error) {
	cl.mu.Lock()
	cl.seq++
	req := &Request{Seq: cl.seq, Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			cl.mu.Unlock()
			return nil, err
		}
		req.Args = b
	}
	if err := cl.conn.SendRequest(req, files); err != nil {
		cl.mu.Unlock()
		return nil, fmt.Errorf("agent protocol: sending %s: %w", op, err)
	}
	return func(result any) ([]*os.File, error) {
		defer cl.mu.Unlock()
		return cl.recv(op, req.Seq, result)
	}, nil
}

func (cl *Client) recv(op Op, seq uint64, result any) ([]*os.File, error) {
	resp, fds, err := cl.conn.RecvResponse()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("agent protocol: %s: reading the response: %w", op, err)
	}
	if resp.Seq != seq {
		closeAll(fds)
		return nil, fmt.Errorf("agent protocol: %s: response %d to request %d", op, resp.Seq, seq)
	}
	if resp.Error != nil {
		closeAll(fds)
		return nil, resp.Error
	}
	if result != nil {
		if len(resp.Result) == 0 {
			closeAll(fds)
			return nil, fmt.Errorf("agent protocol: %s: empty result", op)
		}
		if err := decode(resp.Result, result); err != nil {
			closeAll(fds)
			return nil, err
		}
	}
	return fds, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// Handler serves one control request. args is Request.Validate's value;
// files are the descriptors the request carried, owned by the handler.
// It returns a result (nil for none) and descriptors to send back, which
// are closed after sending.
type Handler func(op Op, args any, files []*os.File) (result any, out []*os.File, err error)

// Serve answers requests on a control connection (after ServerHello)
// until the peer closes it. A malformed frame ends the connection;
// a request that does not validate gets a bad-request error. Errors from
// h that are not *Error are sent with CodeFailed.
func (c *Conn) Serve(h Handler) error {
	for {
		req, files, err := c.RecvRequest()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		resp := &Response{Seq: req.Seq}
		var out []*os.File
		args, verr := req.Validate()
		if verr != nil {
			closeAll(files)
			resp.Error = asError(verr)
		} else {
			result, o, herr := h(req.Op, args, files)
			out = o
			if herr != nil {
				resp.Error = asError(herr)
			} else if result != nil {
				b, err := json.Marshal(result)
				if err != nil {
					resp.Error = Errorf(CodeFailed, "encoding the result: %v", err)
				} else {
					resp.Result = b
				}
			}
		}
		if resp.Error != nil {
			closeAll(out)
			out = nil
		}
		err = c.SendResponse(resp, out)
		closeAll(out)
		if err != nil {
			return err
		}
	}
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeFailed, Message: err.Error()}
}
