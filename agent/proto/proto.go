// Package proto is the protocol between the runtime (hull create, start,
// kill, exec, ...) and hull's agent, the process that creates containers:
// PID 1 of a microVM reached over vsock, or the process sandbox's agent on
// the host reached over a Unix socket. The same code runs on both ends and
// over both transports; docs/agent-protocol.md is the specification.
//
// A connection carries frames: a 4-byte big-endian length, then that many
// bytes of one JSON object. The client's first frame is a Hello; the agent
// answers with its own Hello, or with an error and closes the connection
// when the major versions differ. A control connection then carries
// requests, each answered by exactly one response, in order. A stream
// connection carries one stdio stream of one process as raw bytes after
// the Hello exchange (one connection per stream, DESIGN.md §2).
//
// Over a Unix socket a frame may carry file descriptors (SCM_RIGHTS): the
// process sandbox hands the caller's stdio and the console's pty this way.
// A frame says how many it carries (Request.FDs, Response.FDs); the reader
// takes exactly that many and closes any others it received.
//
// Every length, count and string that arrives is bounded: a peer can make
// a request fail, never make the reader allocate more than MaxFrame or
// hold more than MaxFDs descriptors.
package proto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is this build's protocol version. Peers must agree on Major; a
// newer Minor only adds optional fields and operations.
// 1.1 added CreateArgs.RootfsTag and the vm sandbox's vsock port; 1.2
// CreateArgs.Network and the restored operation; 1.3 CreateArgs.MountsTag
// and HostMounts.
var Version = ProtocolVersion{Major: 1, Minor: 3}

// VsockPort is the vsock port hull-agent serves this protocol on in a
// microVM (reached through the VMM's hybrid vsock socket with
// "CONNECT 1025\n"). Port 1024 keeps the agent's line protocol (ping,
// version, poweroff).
const VsockPort uint32 = 1025

// ProtocolVersion is major.minor.
type ProtocolVersion struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
}

func (v ProtocolVersion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Limits.
const (
	MaxFrame  = 4 << 20 // bytes in one frame's JSON: an OCI config with room to spare
	MaxFDs    = 8       // descriptors one frame may carry
	headerLen = 4
)

// Errors a reader returns for a malformed frame. After one of them the
// connection's framing is lost: close it.
var (
	ErrFrameTooLarge = errors.New("agent protocol: frame larger than MaxFrame")
	ErrEmptyFrame    = errors.New("agent protocol: empty frame")
	ErrTooManyFDs    = errors.New("agent protocol: frame carries too many file descriptors")
	ErrVersion       = errors.New("agent protocol: version mismatch")
)

// WriteFrame writes v as one frame.
func WriteFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("agent protocol: encoding %T: %w", v, err)
	}
	return writeRaw(w, b)
}

func writeRaw(w io.Writer, b []byte) error {
	if len(b) > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	buf := make([]byte, headerLen+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[headerLen:], b)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame's JSON. io.EOF means the peer closed the
// connection between frames; io.ErrUnexpectedEOF, inside one.
func ReadFrame(r io.Reader) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	switch {
	case n == 0:
		return nil, ErrEmptyFrame
	case n > MaxFrame:
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// decode unmarshals one frame strictly: unknown fields are allowed (a newer
// minor version may add them), trailing data is not.
func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("agent protocol: bad %T: %w", v, err)
	}
	return nil
}
