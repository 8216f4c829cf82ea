package proto

import (
	"os"

	"bytes"
	"encoding/json"
	"fmt"
	"golang.org/x/sys/unix"
	"strings"
)

// Role is what a connection is for, named in its Hello.
type Role string

const (
	RoleControl Role = "control" // requests and responses
	RoleStream  Role = "stream"  // one stdio stream of one process, raw bytes
)

// Hello is the first frame in each direction.
type Hello struct {
	Version ProtocolVersion `json:"version"`
	Role    Role            `json:"role"`
	// Agent describes the agent ("hull-agent vm", "hull-agent process");
	// set in the agent's answer only.
	Agent string `json:"agent,omitempty"`
	// Stream names the stream of a RoleStream connection.
	Stream *StreamID `json:"stream,omitempty"`
	// Error is set in the agent's answer when it refuses the connection.
	Error *Error `json:"error,omitempty"`
}

// StreamID names one stdio stream: of a container's process (Exec empty)
// or of an exec'd process.
type StreamID struct {
	Container string `json:"container"`
	Exec      string `json:"exec,omitempty"`
	Stream    string `json:"stream"` // "stdin", "stdout" or "stderr"
}

// Op is a request's operation.
type Op string

// Operations. Each names its arguments and result type.
const (
	OpPing       Op = "ping"        // no args; no result
	OpCreate     Op = "create"      // CreateArgs; CreateResult
	OpStart      Op = "start"       // IDArgs; no result
	OpState      Op = "state"       // IDArgs; StateResult
	OpSignal     Op = "signal"      // SignalArgs; no result
	OpWait       Op = "wait"        // IDArgs; WaitResult (blocks until the process exits)
	OpExec       Op = "exec"        // ExecArgs; CreateResult (the process is started)
	OpPs         Op = "ps"          // IDArgs; PsResult
	OpPause      Op = "pause"       // IDArgs; no result
	OpResume     Op = "resume"      // IDArgs; no result
	OpResize     Op = "resize"      // ResizeArgs; no result
	OpCloseStdin Op = "close-stdin" // IDArgs; no result
	OpDelete     Op = "delete"      // IDArgs; no result (the container's resources are released)
	OpShutdown   Op = "shutdown"    // no args; the agent ends (the process sandbox exits, a VM powers off)
	OpRestored   Op = "restored"    // RestoredArgs; no result (the VM was restored from a snapshot)
)

var knownOps = map[Op]bool{OpPing: true, OpCreate: true, OpStart: true, OpState: true, OpSignal: true,
	OpWait: true, OpExec: true, OpPs: true, OpPause: true, OpResume: true, OpResize: true,
	OpCloseStdin: true, OpDelete: true, OpShutdown: true, OpRestored: true}

// Request is one operation on a control connection.
type Request struct {
	Seq  uint64          `json:"seq"`
	Op   Op              `json:"op"`
	FDs  int             `json:"fds,omitempty"` // descriptors carried with this frame (Unix sockets only)
	Args json.RawMessage `json:"args,omitempty"`
}

// Response answers the request with the same Seq: Error, or Result.
type Response struct {
	Seq    uint64          `json:"seq"`
	FDs    int             `json:"fds,omitempty"`
	Error  *Error          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Error is a failed request. Code is one of the Code* constants; Message
// is for people and says what failed and why.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeBadRequest  = "bad-request" // malformed or invalid arguments
	CodeNotFound    = "not-found"   // no such container or process
	CodeExists      = "exists"      // the id is taken
	CodeState       = "state"       // not allowed in the container's state (start twice, ...)
	CodeUnsupported = "unsupported" // this agent cannot do it
	CodeFailed      = "failed"      // it was tried and failed
	CodeVersion     = "version"     // protocol versions differ
)

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code.
func Errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// StdioMode says how a process gets its stdio.
type StdioMode string

const (
	// StdioFDs: the request carries the process's stdin, stdout and stderr
	// as three descriptors (Unix sockets only), or none with Terminal.
	StdioFDs StdioMode = "fds"
	// StdioStream: the client opens a stream connection per stream.
	StdioStream StdioMode = "stream"
	// StdioNull: /dev/null for all three.
	StdioNull StdioMode = "null"
)

// CreateArgs creates a container: its init process set up and waiting for
// OpStart.
type CreateArgs struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"` // the bundle's path as the agent sees it
	// Rootfs, when set, replaces the bundle's root.path with a path the
	// agent can reach.
	Rootfs string `json:"rootfs,omitempty"`
	// RootfsTag (1.1), when set, names a virtio-9p share (its mount tag)
	// holding the container's root file system: the agent mounts it on a
	// directory of its own (read-only when spec.root.readonly) and uses
	// that as the root, and unmounts it at OpDelete (the vm sandbox). Not
	// together with Rootfs.
	RootfsTag string          `json:"rootfsTag,omitempty"`
	Spec      json.RawMessage `json:"spec"` // config.json
	Stdio     StdioMode       `json:"stdio"`
	// Terminal: the agent makes a pty; with StdioFDs the response carries
	// its master, with StdioStream the client streams it.
	Terminal bool `json:"terminal,omitempty"`
	// ExtraFDs descriptors follow the stdio ones in the frame: they become
	// fds 3, 4, ... of the container (--preserve-fds).
	ExtraFDs int `json:"extraFds,omitempty"`
	// Annotations and the runtime's state, passed to hooks.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Network (1.2), when set, configures the guest's interfaces and
	// routes before the container is made (network.go); an agent that
	// cannot answers unsupported.
	Network *Network `json:"network,omitempty"`
	// MountsTag (1.3) names the virtio-9p share holding the sources of
	// HostMounts: the agent mounts it on a directory of its own and
	// replaces each listed mount's source with that directory's entry
	// Name (the vm sandbox's bind mounts of host paths). It unmounts the
	// share at OpDelete.
	MountsTag  string      `json:"mountsTag,omitempty"`
	HostMounts []HostMount `json:"hostMounts,omitempty"`
}

// HostMount is a bind mount of the config whose source is an entry of the
// MountsTag share.
type HostMount struct {
	Index int `json:"index"` // in spec.mounts; a bind mount
	// Name is the entry's path in the share: one or two path elements
	// (the vm sandbox sends "<index>/<the source's base name>", so the
	// guest's mountinfo shows the source's name as the bind's root).
	Name string `json:"name"`
}

// MaxHostMounts bounds CreateArgs.HostMounts.
const MaxHostMounts = 1024

// CreateResult names the created process.
type CreateResult struct {
	Pid int `json:"pid"` // in the agent's pid namespace
}

// IDArgs names a container, or one of its exec'd processes.
type IDArgs struct {
	ID   string `json:"id"`
	Exec string `json:"exec,omitempty"`
}

// SignalArgs sends Signal to the container's process (or Exec's), or with
// All to every process of the container.
type SignalArgs struct {
	ID     string `json:"id"`
	Exec   string `json:"exec,omitempty"`
	Signal int    `json:"signal"`
	All    bool   `json:"all,omitempty"`
}

// StateResult is the agent's view of a container.
type StateResult struct {
	Status string `json:"status"` // "created", "running", "paused", "stopped"
	Pid    int    `json:"pid"`
	// ExitStatus is valid when Status is "stopped".
	ExitStatus int `json:"exitStatus"`
}

// WaitResult is how a process ended: Status is its exit code, or 128+n
// when signal n killed it (Signal is then n).
type WaitResult struct {
	Status int `json:"status"`
	Signal int `json:"signal,omitempty"`
}

// ExecArgs starts another process in a running container.
type ExecArgs struct {
	ID       string          `json:"id"`
	Exec     string          `json:"exec"`    // the caller's name for it, unique per container
	Process  json.RawMessage `json:"process"` // a runtime-spec process object
	Stdio    StdioMode       `json:"stdio"`
	Terminal bool            `json:"terminal,omitempty"`
	ExtraFDs int             `json:"extraFds,omitempty"`
}

// PsResult lists the container's processes.
type PsResult struct {
	Pids []int `json:"pids"`
}

// ResizeArgs sets a terminal's window size.
type ResizeArgs struct {
	ID     string `json:"id"`
	Exec   string `json:"exec,omitempty"`
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// Limits on what a request may name.
const (
	MaxIDLen  = 1024
	MaxPath   = 4096
	MaxTagLen = 255 // a virtio-9p mount tag
)

// ValidTag reports whether tag can name a virtio-9p share: 1 to MaxTagLen
// letters, digits, '.', '_' and '-' (the VMM's virtio/p9 rule).
func ValidTag(tag string) error {
	if tag == "" || len(tag) > MaxTagLen {
		return fmt.Errorf("rootfs tag must be 1 to %d bytes", MaxTagLen)
	}
	for _, r := range tag {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)
		if !ok {
			return fmt.Errorf("invalid rootfs tag %q: only letters, digits and . _ - are allowed", clip(tag))
		}
	}
	return nil
}

// ValidID reports whether id can name a container or an exec: runc's rule
// (letters, digits, and _ + - .), at most MaxIDLen bytes.
func ValidID(id string) error {
	if id == "" {
		return fmt.Errorf("empty id")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id longer than %d bytes", MaxIDLen)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("invalid id %q", id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+-.", r)
		if !ok {
			return fmt.Errorf("invalid id %q: only letters, digits and _ + - . are allowed", clip(id))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (m StdioMode) valid() bool { return m == StdioFDs || m == StdioStream || m == StdioNull }

// Validate checks a request's framing fields and decodes and validates its
// arguments into the type its Op takes; the returned value is a pointer to
// that type, or nil for operations without arguments.
func (r *Request) Validate() (any, error) {
	if !knownOps[r.Op] {
		return nil, Errorf(CodeUnsupported, "unknown operation %q", clip(string(r.Op)))
	}
	if r.FDs < 0 || r.FDs > MaxFDs {
		return nil, Errorf(CodeBadRequest, "%s: %d descriptors (at most %d)", r.Op, r.FDs, MaxFDs)
	}
	var args any
	switch r.Op {
	case OpPing, OpShutdown:
		return nil, nil
	case OpCreate:
		args = &CreateArgs{}
	case OpSignal:
		args = &SignalArgs{}
	case OpExec:
		args = &ExecArgs{}
	case OpResize:
		args = &ResizeArgs{}
	case OpRestored:
		args = &RestoredArgs{}
	default:
		args = &IDArgs{}
	}
	if len(r.Args) == 0 {
		return nil, Errorf(CodeBadRequest, "%s: missing arguments", r.Op)
	}
	if err := decode(r.Args, args); err != nil {
		return nil, Errorf(CodeBadRequest, "%s: %v", r.Op, err)
	}
	if err := validateArgs(r, args); err != nil {
		return nil, Errorf(CodeBadRequest, "%s: %v", r.Op, err)
	}
	return args, nil
}

func validateArgs(r *Request, args any) error {
	switch a := args.(type) {
	case *RestoredArgs:
		if a.RealtimeNs <= 0 {
			return fmt.Errorf("realtimeNs %d is not a time", a.RealtimeNs)
		}
		if len(a.Entropy) > MaxEntropy {
			return fmt.Errorf("%d bytes of entropy (at most %d)", len(a.Entropy), MaxEntropy)
		}
		return nil
	case *CreateArgs:
		if err := ValidID(a.ID); err != nil {
			return err
		}
		if a.Bundle == "" || len(a.Bundle) > MaxPath || len(a.Rootfs) > MaxPath {
			return fmt.Errorf("bundle path empty or longer than %d bytes", MaxPath)
		}
		if a.RootfsTag != "" {
			if a.Rootfs != "" {
				return fmt.Errorf("rootfs and rootfsTag are exclusive")
			}
			if err := ValidTag(a.RootfsTag); err != nil {
				return err
			}
		}
		if !isObject(a.Spec) {
			return fmt.Errorf("spec is not a JSON object")
		}
		if a.Network != nil {
			if err := a.Network.Validate(); err != nil {
				return err
			}
		}
		if err := validHostMounts(a.MountsTag, a.HostMounts); err != nil {
			return err
		}
		return checkStdio(a.Stdio, a.Terminal, a.ExtraFDs, r.FDs)
	case *ExecArgs:
		if err := ValidID(a.ID); err != nil {
			return err
		}
		if err := ValidID(a.Exec); err != nil {
			return fmt.Errorf("exec: %v", err)
		}
		if !isObject(a.Process) {
			return fmt.Errorf("process is not a JSON object")
		}
		return checkStdio(a.Stdio, a.Terminal, a.ExtraFDs, r.FDs)
	case *SignalArgs:
		if err := checkIDs(a.ID, a.Exec); err != nil {
			return err
		}
		if a.Signal < 1 || a.Signal > 64 {
			return fmt.Errorf("signal %d out of range 1-64", a.Signal)
		}
	case *ResizeArgs:
		return checkIDs(a.ID, a.Exec)
	case *IDArgs:
		return checkIDs(a.ID, a.Exec)
	}
	return nil
}

func isObject(b json.RawMessage) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func checkIDs(id, exec string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	if exec != "" {
		if err := ValidID(exec); err != nil {
			return fmt.Errorf("exec: %v", err)
		}
	}
	return nil
}

// checkStdio checks that a frame carries the descriptors its stdio mode
// needs: three for StdioFDs (none with a terminal), plus the extra ones.
func checkStdio(m StdioMode, terminal bool, extra, fds int) error {
	if !m.valid() {
		return fmt.Errorf("unknown stdio mode %q", clip(string(m)))
	}
	if extra < 0 || extra > MaxFDs-3 {
		return fmt.Errorf("%d extra descriptors (at most %d)", extra, MaxFDs-3)
	}
	want := extra
	if m == StdioFDs && !terminal {
		want += 3
	}
	if fds != want {
		return fmt.Errorf("frame carries %d descriptors, stdio %q needs %d", fds, m, want)
	}
	return nil
}

// String says how the process ended.
func (w WaitResult) String() string {
	if w.Signal != 0 {
		return fmt.Sprintf("killed by signal %d", w.Signal)
	}
	return fmt.Sprintf("exit status %d", w.Status)
}

// Forwarded says whether a signal the container's host-side process (the
// sandbox agent, the VMM, `hull run`) receives goes on to the container,
// and which: every signal except those about the host process itself:
// SIGCHLD (its children), SIGURG (Go's preemption), SIGPIPE (its own
// sockets) and SIGWINCH (its terminal; resize covers the container's).
func Forwarded(s os.Signal) (unix.Signal, bool) {
	sig, ok := s.(unix.Signal)
	if !ok {
		return 0, false
	}
	switch sig {
	case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, unix.SIGWINCH:
		return 0, false
	}
	return sig, true
}

// RestoredArgs tell the agent of a VM restored from a snapshot what
// changed under it: the time (the guest's clock stands where it stood at
// the snapshot) and fresh randomness (every VM restored from one snapshot
// starts with the same random state).
type RestoredArgs struct {
	RealtimeNs int64  `json:"realtimeNs"` // the host's CLOCK_REALTIME
	Entropy    []byte `json:"entropy"`    // from the host's getrandom; credited to the guest's pool
}

// MaxEntropy bounds RestoredArgs.Entropy.
const MaxEntropy = 512

// validHostMounts checks CreateArgs.MountsTag and HostMounts: a tag when
// there are mounts, each index once, each name one path element. The
// agent checks that each index is a bind mount of the config.
func validHostMounts(tag string, ms []HostMount) error {
	if len(ms) == 0 {
		return nil
	}
	if len(ms) > MaxHostMounts {
		return fmt.Errorf("hostMounts: %d (at most %d)", len(ms), MaxHostMounts)
	}
	if err := ValidTag(tag); err != nil {
		return fmt.Errorf("mountsTag: %v", err)
	}
	seen := map[int]bool{}
	for _, m := range ms {
		if m.Index < 0 || seen[m.Index] {
			return fmt.Errorf("hostMounts: index %d negative or repeated", m.Index)
		}
		seen[m.Index] = true
		if err := validShareName(m.Name); err != nil {
			return fmt.Errorf("hostMounts[%d]: name: %v", m.Index, err)
		}
	}
	return nil
}

// validShareName checks a HostMount name: one or two path elements, none
// empty, "." or "..", without NUL, each at most 255 bytes.
func validShareName(name string) error {
	els := strings.Split(name, "/")
	if len(els) > 2 {
		return fmt.Errorf("%q has more than two path elements", clip(name))
	}
	for _, e := range els {
		if e == "" || e == "." || e == ".." || len(e) > 255 || strings.ContainsRune(e, 0) {
			return fmt.Errorf("%q: an empty, \".\", \"..\" or overlong path element, or a NUL", clip(name))
		}
	}
	return nil
}
