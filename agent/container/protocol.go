package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The parent and the init talk over a socketpair (SOCK_STREAM), one JSON
// object per message. The init's end is close-on-exec, so the parent
// reading EOF after "start" means the exec succeeded.
//
//	parent                         init
//	config          ──▶
//	                ◀──            createRuntime   (mounts done, before pivot_root)
//	resume          ──▶
//	                ◀──            ready           (set up, waiting)
//	start           ──▶
//	                ◀──            EOF (exec'd) or error
//
// The init may send debug notes at any point and an error instead of any
// of its messages; then it exits.
type msgType string

const (
	msgConfig        msgType = "config"
	msgCreateRuntime msgType = "createRuntime"
	msgResume        msgType = "resume"
	msgReady         msgType = "ready"
	msgStart         msgType = "start"
	msgError         msgType = "error"
	msgDebug         msgType = "debug"
)

type message struct {
	Type   msgType     `json:"type"`
	Text   string      `json:"text,omitempty"`  // error, debug
	Errno  int         `json:"errno,omitempty"` // error
	State  []byte      `json:"state,omitempty"` // start: the startContainer hooks' stdin
	Config *initConfig `json:"config,omitempty"`
}

// Init modes.
const (
	modeInit = "init" // a container's first process
	modeExec = "exec" // another process in a running container
)

// initConfig is everything the init half needs; it crosses the process
// boundary as JSON.
type initConfig struct {
	Mode      string         `json:"mode"`
	Bundle    string         `json:"bundle"`
	Rootfs    string         `json:"rootfs"`
	Spec      *specs.Spec    `json:"spec"`
	Process   *specs.Process `json:"process"`
	State     []byte         `json:"state,omitempty"` // createContainer hooks' stdin
	Terminal  bool           `json:"terminal,omitempty"`
	NumExtra  int            `json:"numExtra,omitempty"` // fds 3..3+NumExtra-1 survive the exec
	MountNSFD int            `json:"mountNSFD"`          // -1: none to join
	RootFD    int            `json:"rootFD"`             // exec: the container's root; -1: none
	UserNS    bool           `json:"userNS,omitempty"`   // in a new user namespace: no mknod
	CgroupNS  bool           `json:"cgroupNS,omitempty"` // in a new cgroup namespace
	NoPivot   bool           `json:"noPivot,omitempty"`  // MS_MOVE + chroot instead of pivot_root
}

// syncConn is one end of the socketpair.
type syncConn struct {
	f   *os.File
	enc *json.Encoder
	dec *json.Decoder
}

func newSyncConn(f *os.File) *syncConn {
	return &syncConn{f: f, enc: json.NewEncoder(f), dec: json.NewDecoder(f)}
}

func (c *syncConn) send(m *message) error {
	if err := c.enc.Encode(m); err != nil {
		return fmt.Errorf("sync socket: send %s: %w", m.Type, err)
	}
	return nil
}

// recv reads the next message; io.EOF when the other end closed cleanly.
func (c *syncConn) recv() (*message, error) {
	var m message
	if err := c.dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	return &m, nil
}

func (c *syncConn) close() { _ = c.f.Close() } // a socket: nothing buffered to lose

// errorMessage turns an error into a message, keeping its errno.
func errorMessage(err error) *message {
	m := &message{Type: msgError, Text: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		m.Errno = int(errno)
	}
	return m
}

// initError turns an error message back into an error.
func initError(m *message) error {
	return &InitError{Msg: m.Text, Errno: unix.Errno(m.Errno)}
}
