package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// Stdio over stream connections (proto.StdioStream, the vm sandbox): a
// create or exec makes pipes, or a pty with a terminal, and keeps the
// agent's ends under their StreamID until a stream connection attaches:
//
//   - stdout, stderr: the agent copies the pipe to the connection and
//     closes the connection at EOF, when every process holding the write
//     end has closed it (or exited): all the output has then been sent.
//     With a terminal the one "stdout" stream is the pty's master, which
//     ends (EIO) once no process holds the slave.
//   - stdin: the agent copies the connection to the pipe and closes the
//     pipe at the connection's EOF, or at close-stdin, so the process
//     reads EOF. With a terminal it writes to the master, and its end
//     closes nothing the process sees.
//
// What a process writes before its stream attaches waits in the pipe
// (and the writer blocks once the pipe is full). Each stream attaches at
// most once; a delete closes the ends never attached.

// stream is the agent's end of one stdio stream.
type stream struct {
	id       proto.StreamID
	f        *os.File // read from it (stdout, stderr), write to it (stdin)
	in       bool     // stdin
	attached bool
	closed   bool     // stdin closed by close-stdin or a delete
	conn     net.Conn // stdin, while attached: closed with f
}

// pipeStreams are the streams of a process without a terminal, in fd
// order; one with a terminal has stdin and stdout (streamPty).
var pipeStreams = []string{"stdin", "stdout", "stderr"}

// streamStdio makes the pipes, or the pty, of a StdioStream process.
func streamStdio(terminal bool) (*procStdio, error) {
	if terminal {
		return streamPty()
	}
	p := &procStdio{streams: map[string]*os.File{}}
	fail := func(err error) (*procStdio, error) {
		p.closeChild()
		p.closeOurs()
		return nil, fmt.Errorf("stdio pipes: %w", err)
	}
	for i, name := range pipeStreams {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		if name == "stdin" {
			p.child[i], p.streams[name] = r, w
		} else {
			p.child[i], p.streams[name] = w, r
		}
	}
	return p, nil
}

// streamPty opens a pty: the slave is the process's stdio; the master
// becomes three descriptors, the "stdout" and "stdin" streams and one
// kept for resize, so that each can be closed alone. The master never
// leaves the agent, so it is made non-blocking (Go's poller then serves
// it and a close interrupts a read).
func streamPty() (*procStdio, error) {
	m, slave, err := openPty()
	if err != nil {
		return nil, err
	}
	defer m.Close()
	fd := int(m.Fd())
	var dups []*os.File
	fail := func(err error) (*procStdio, error) {
		closeFiles(dups)
		slave.Close()
		return nil, fmt.Errorf("pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail(err)
	}
	for range 3 {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fail(err)
		}
		dups = append(dups, os.NewFile(uintptr(d), "/dev/ptmx"))
	}
	return &procStdio{
		child:   [3]*os.File{slave, slave, slave},
		streams: map[string]*os.File{"stdout": dups[0], "stdin": dups[1]},
		term:    dups[2],
	}, nil
}

// addStreams registers a process's streams; s.mu is held.
func (s *Server) addStreams(id, exec string, ends map[string]*os.File) {
	if len(ends) == 0 {
		return
	}
	if s.streams == nil {
		s.streams = map[proto.StreamID]*stream{}
	}
	for name, f := range ends {
		sid := proto.StreamID{Container: id, Exec: exec, Stream: name}
		s.streams[sid] = &stream{id: sid, f: f, in: name == "stdin"}
	}
}

// validStream checks a stream connection's StreamID.
func validStream(id *proto.StreamID) error {
	if err := proto.ValidID(id.Container); err != nil {
		return err
	}
	if id.Exec != "" {
		if err := proto.ValidID(id.Exec); err != nil {
			return err
		}
	}
	switch id.Stream {
	case "stdin", "stdout", "stderr":
		return nil
	}
	return fmt.Errorf("unknown stream %q", clipString(id.Stream))
}

func streamName(id proto.StreamID) string {
	return id.Stream + " of " + procName(id.Container, id.Exec)
}

// claimStream marks a stream attached, or says why it cannot be.
func (s *Server) claimStream(id proto.StreamID) (*stream, *proto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	switch {
	case st == nil:
		return nil, proto.Errorf(proto.CodeNotFound, "no stream %s (stdio \"stream\" only; a terminal has no stderr)", streamName(id))
	case st.attached:
		return nil, proto.Errorf(proto.CodeState, "stream %s is attached already", streamName(id))
	case st.closed:
		return nil, proto.Errorf(proto.CodeState, "stream %s is closed", streamName(id))
	}
	st.attached = true
	return st, nil
}

// unclaimStream undoes claimStream when the Hello could not be answered.
func (s *Server) unclaimStream(st *stream) {
	s.mu.Lock()
	st.attached = false
	s.mu.Unlock()
}

// pump carries an attached stream's bytes until its end; the caller
// closes c afterwards.
func (s *Server) pump(st *stream, id *proto.StreamID, c net.Conn) {
	if !st.in {
		err := copyOut(c, st.f)
		st.f.Close()
		if err != nil {
			s.logf("stream %s: %v", streamName(*id), err)
		}
		return
	}
	s.mu.Lock()
	if st.closed { // close-stdin came between the claim and now
		s.mu.Unlock()
		return
	}
	st.conn = c
	s.mu.Unlock()
	err := copyIn(st.f, c)
	s.mu.Lock()
	st.closed = true
	st.conn = nil
	s.mu.Unlock()
	st.f.Close() // the process reads EOF
	if err != nil {
		s.logf("stream %s: %v", streamName(*id), err)
	}
}

// copyOut copies a process's output to the connection until the output
// ends: EOF on a pipe, EIO on a pty's master once no process holds the
// slave, or the file closed by a delete.
func copyOut(c net.Conn, f *os.File) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return fmt.Errorf("sending: %w", werr) // the host went away: the process gets EPIPE
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, unix.EIO), errors.Is(err, os.ErrClosed):
			return nil
		default:
			return err
		}
	}
}

// copyIn copies the connection to the process's stdin until the
// connection's EOF; a process that exits first ends it too (EPIPE), as
// does a close-stdin (the file or the connection closed).
func copyIn(f *os.File, c net.Conn) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				if errors.Is(werr, unix.EPIPE) || errors.Is(werr, os.ErrClosed) {
					return nil
				}
				return werr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return nil
		default:
			return err
		}
	}
}

// closeStdin closes a process's stdin stream: the process reads EOF (with
// a terminal only the agent's end closes). Closing it twice is no error.
func (s *Server) closeStdin(c *ctr, exec string) error {
	id := proto.StreamID{Container: c.id, Exec: exec, Stream: "stdin"}
	s.mu.Lock()
	if exec != "" && c.execs[exec] == nil {
		s.mu.Unlock()
		return proto.Errorf(proto.CodeNotFound, "container %s has no exec %s", c.id, exec)
	}
	st := s.streams[id]
	if st == nil {
		s.mu.Unlock()
		return proto.Errorf(proto.CodeState, "close-stdin: %s has no stdin stream (stdio %q)", procName(c.id, exec), proto.StdioStream)
	}
	if st.closed {
		s.mu.Unlock()
		return nil
	}
	st.closed = true
	conn := st.conn
	s.mu.Unlock()
	st.f.Close()
	if conn != nil {
		conn.Close()
	}
	return nil
}

// dropStreams forgets a deleted container's streams and closes the ends
// nobody attached, and stdin; attached output streams end by themselves
// now that the processes are gone.
func (s *Server) dropStreams(id string) {
	s.mu.Lock()
	var files []*os.File
	var conns []net.Conn
	for sid, st := range s.streams {
		if sid.Container != id {
			continue
		}
		delete(s.streams, sid)
		if !st.attached || st.in {
			files = append(files, st.f)
			st.closed = true
		}
		if st.conn != nil {
			conns = append(conns, st.conn)
		}
	}
	s.mu.Unlock()
	closeFiles(files)
	for _, c := range conns {
		c.Close()
	}
}
