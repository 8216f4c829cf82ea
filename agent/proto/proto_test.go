package proto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// unixPair returns two connected Unix stream sockets.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	a, b := conv(fds[0]), conv(fds[1])
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, &Request{Seq: 7, Op: OpPing}); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(buf.Bytes()); int(got) != buf.Len()-4 {
		t.Fatalf("length prefix %d, body %d", got, buf.Len()-4)
	}
	b, err := ReadFrame(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"seq":7,"op":"ping"}` {
		t.Fatalf("frame %s", b)
	}
	if _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":     {0, 0, 0, 0},
		"too large": {0x7f, 0xff, 0xff, 0xff},
		"truncated": {0, 0, 0, 10, '{'},
		"short hdr": {0, 0},
	} {
		_, err := ReadFrame(bytes.NewReader(in))
		switch name {
		case "empty":
			if !errors.Is(err, ErrEmptyFrame) {
				t.Errorf("%s: %v", name, err)
			}
		case "too large":
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Errorf("%s: %v", name, err)
			}
		default:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s: %v, want unexpected EOF", name, err)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	spec := json.RawMessage(`{"ociVersion":"1.2.0"}`)
	args := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	cases := []struct {
		name string
		req  Request
		code string // "" = valid
	}{
		{"ping", Request{Op: OpPing}, ""},
		{"unknown op", Request{Op: "format-disk"}, CodeUnsupported},
		{"no args", Request{Op: OpStart}, CodeBadRequest},
		{"bad json", Request{Op: OpStart, Args: json.RawMessage(`[1,2`)}, CodeBadRequest},
		{"start", Request{Op: OpStart, Args: args(IDArgs{ID: "c1"})}, ""},
		{"bad id", Request{Op: OpStart, Args: args(IDArgs{ID: "../etc"})}, CodeBadRequest},
		{"long id", Request{Op: OpStart, Args: args(IDArgs{ID: strings.Repeat("a", MaxIDLen+1)})}, CodeBadRequest},
		{"signal 0", Request{Op: OpSignal, Args: args(SignalArgs{ID: "c", Signal: 0})}, CodeBadRequest},
		{"signal 65", Request{Op: OpSignal, Args: args(SignalArgs{ID: "c", Signal: 65})}, CodeBadRequest},
		{"signal", Request{Op: OpSignal, Args: args(SignalArgs{ID: "c", Signal: 9, All: true})}, ""},
		{"create fds", Request{Op: OpCreate, FDs: 3, Args: args(CreateArgs{ID: "c", Bundle: "/b", Spec: spec, Stdio: StdioFDs})}, ""},
		{"create missing fds", Request{Op: OpCreate, FDs: 2, Args: args(CreateArgs{ID: "c", Bundle: "/b", Spec: spec, Stdio: StdioFDs})}, CodeBadRequest},
		{"create tty", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", Spec: spec, Stdio: StdioFDs, Terminal: true})}, ""},
		{"create stream", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", Spec: spec, Stdio: StdioStream})}, ""},
		{"create bad stdio", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", Spec: spec, Stdio: "pigeon"})}, CodeBadRequest},
		{"create no spec", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", Stdio: StdioNull})}, CodeBadRequest},
		{"create no bundle", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Spec: spec, Stdio: StdioNull})}, CodeBadRequest},
		{"too many fds", Request{Op: OpCreate, FDs: MaxFDs + 1, Args: args(CreateArgs{ID: "c", Bundle: "/b", Spec: spec, Stdio: StdioNull})}, CodeBadRequest},
		{"create rootfs tag", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", RootfsTag: "hull-rootfs_1.c", Spec: spec, Stdio: StdioStream})}, ""},
		{"create bad rootfs tag", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", RootfsTag: "a,b", Spec: spec, Stdio: StdioStream})}, CodeBadRequest},
		{"create long rootfs tag", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", RootfsTag: strings.Repeat("t", MaxTagLen+1), Spec: spec, Stdio: StdioStream})}, CodeBadRequest},
		{"create rootfs and tag", Request{Op: OpCreate, Args: args(CreateArgs{ID: "c", Bundle: "/b", Rootfs: "/r", RootfsTag: "t", Spec: spec, Stdio: StdioStream})}, CodeBadRequest},
		{"exec", Request{Op: OpExec, Args: args(ExecArgs{ID: "c", Exec: "e1", Process: spec, Stdio: StdioNull})}, ""},
		{"exec no name", Request{Op: OpExec, Args: args(ExecArgs{ID: "c", Process: spec, Stdio: StdioNull})}, CodeBadRequest},
	}
	for _, c := range cases {
		_, err := c.req.Validate()
		var e *Error
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code != "" && (!errors.As(err, &e) || e.Code != c.code):
			t.Errorf("%s: %v, want code %s", c.name, err, c.code)
		}
	}
}

// TestCallWithDescriptors runs a client and a server over a socket pair:
// the request carries three descriptors, the response one, and an error
// comes back as *Error.
func TestCallWithDescriptors(t *testing.T) {
	a, b := unixPair(t)
	done := make(chan error, 1)
	go func() {
		srv := NewConn(b)
		if _, err := srv.ServerHello("test agent"); err != nil {
			done <- err
			return
		}
		done <- srv.Serve(func(op Op, args any, files []*os.File) (any, []*os.File, error) {
			switch op {
			case OpCreate:
				a := args.(*CreateArgs)
				if len(files) != 3 {
					return nil, nil, Errorf(CodeBadRequest, "got %d files", len(files))
				}
				// write through the passed stdout
				if _, err := files[1].WriteString("hello from " + a.ID); err != nil {
					return nil, nil, err
				}
				closeAll(files)
				r, w, err := os.Pipe()
				if err != nil {
					return nil, nil, err
				}
				w.WriteString("pty")
				w.Close()
				return &CreateResult{Pid: 42}, []*os.File{r}, nil
			case OpStart:
				return nil, nil, Errorf(CodeState, "container %s is already running", args.(*IDArgs).ID)
			}
			return nil, nil, nil
		})
	}()
	cl, err := NewClient(a)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Agent != "test agent" {
		t.Errorf("agent %q", cl.Agent)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	devnull, _ := os.Open(os.DevNull)
	var res CreateResult
	fds, err := cl.Call(OpCreate, &CreateArgs{ID: "c1", Bundle: "/b", Spec: json.RawMessage(`{}`), Stdio: StdioFDs},
		&res, devnull, pw, pw)
	if err != nil {
		t.Fatal(err)
	}
	pw.Close()
	devnull.Close()
	if res.Pid != 42 || len(fds) != 1 {
		t.Fatalf("result %+v, %d fds", res, len(fds))
	}
	got, _ := io.ReadAll(fds[0])
	if string(got) != "pty" {
		t.Errorf("returned descriptor read %q", got)
	}
	fds[0].Close()
	out, _ := io.ReadAll(pr)
	if string(out) != "hello from c1" {
		t.Errorf("passed stdout got %q", out)
	}
	_, err = cl.Call(OpStart, &IDArgs{ID: "c1"}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeState || !strings.Contains(e.Message, "already running") {
		t.Errorf("start: %v", err)
	}
	// A request that fails validation is answered, and the connection lives on.
	_, err = cl.Call(OpSignal, &SignalArgs{ID: "c1", Signal: 99}, nil)
	if !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Errorf("bad signal: %v", err)
	}
	if _, err := cl.Call(OpPing, nil, nil); err != nil {
		t.Errorf("ping after errors: %v", err)
	}
	cl.Close()
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
}

func TestVersionMismatch(t *testing.T) {
	a, b := unixPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := NewConn(b).ServerHello("agent")
		errc <- err
	}()
	c := NewConn(a)
	if err := c.send(&Hello{Version: ProtocolVersion{Major: Version.Major + 1}, Role: RoleControl}, nil); err != nil {
		t.Fatal(err)
	}
	var h Hello
	if _, err := c.recv(&h, func() int { return 0 }); err != nil {
		t.Fatal(err)
	}
	if h.Error == nil || h.Error.Code != CodeVersion {
		t.Fatalf("answer %+v", h)
	}
	if err := <-errc; !errors.Is(err, ErrVersion) {
		t.Fatalf("server: %v", err)
	}
}

// TestUnclaimedDescriptorsClosed: a frame that carries more descriptors
// than it announces gets them closed, not leaked into the reader.
func TestUnclaimedDescriptorsClosed(t *testing.T) {
	a, b := unixPair(t)
	r, w, _ := os.Pipe()
	defer r.Close()
	// Announce 0, send 1.
	body, _ := json.Marshal(&Request{Seq: 1, Op: OpPing})
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	buf = append(buf, body...)
	if _, _, err := a.WriteMsgUnix(buf, unix.UnixRights(int(w.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	req, files, err := NewConn(b).RecvRequest()
	if err != nil || req.Op != OpPing || len(files) != 0 {
		t.Fatalf("%+v %v %v", req, files, err)
	}
	// Every write end is closed now, so the read end sees EOF at once.
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("pipe read %d, %v: the passed write end leaked", n, err)
	}
}

// TestVersion11: 1.1 to 1.3 are minor steps (RootfsTag, VsockPort;
// Network; MountsTag, HostMounts); the new fields are left out of requests
// that do not set them, so they read as 1.0.
func TestVersion11(t *testing.T) {
	if Version != (ProtocolVersion{Major: 1, Minor: 3}) || VsockPort != 1025 {
		t.Fatalf("Version %s, VsockPort %d", Version, VsockPort)
	}
	b, _ := json.Marshal(CreateArgs{ID: "c", Bundle: "/b", Spec: json.RawMessage(`{}`), Stdio: StdioNull})
	if s := string(b); strings.Contains(s, "rootfsTag") || strings.Contains(s, "network") || strings.Contains(s, "ounts") {
		t.Errorf("unset RootfsTag or Network encoded: %s", b)
	}
	b, _ = json.Marshal(CreateArgs{ID: "c", Bundle: "/b", RootfsTag: "t", Spec: json.RawMessage(`{}`), Stdio: StdioNull})
	if !strings.Contains(string(b), `"rootfsTag":"t"`) {
		t.Errorf("RootfsTag encoded as %s", b)
	}
}

func TestForwarded(t *testing.T) {
	for _, s := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1, unix.SIGKILL, unix.SIGQUIT} {
		if got, ok := Forwarded(s); !ok || got != s {
			t.Errorf("%v: forwarded %v %v, want itself", s, got, ok)
		}
	}
	for _, s := range []unix.Signal{unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, unix.SIGWINCH} {
		if _, ok := Forwarded(s); ok {
			t.Errorf("%v is the host process's own, not forwarded", s)
		}
	}
	if _, ok := Forwarded(os.Interrupt.(unix.Signal)); !ok {
		t.Error("os.Interrupt not forwarded")
	}
}

// TestHostMountsValidated: the create request's host mounts are checked
// before the agent looks at them.
func TestHostMountsValidated(t *testing.T) {
	ok := []HostMount{{Index: 0, Name: "0/etc"}, {Index: 3, Name: "3"}, {Index: 4, Name: "4/my volume"}}
	for _, c := range []struct {
		name string
		tag  string
		ms   []HostMount
		want string // "" valid
	}{
		{"none", "", nil, ""},
		{"two", "mounts", ok, ""},
		{"no tag", "", ok, "mountsTag"},
		{"bad tag", "a b", ok, "mountsTag"},
		{"negative", "mounts", []HostMount{{Index: -1, Name: "x"}}, "negative or repeated"},
		{"repeated", "mounts", []HostMount{{Index: 1, Name: "a"}, {Index: 1, Name: "b"}}, "negative or repeated"},
		{"up", "mounts", []HostMount{{Index: 1, Name: "../etc"}}, "name"},
		{"up second", "mounts", []HostMount{{Index: 1, Name: "1/.."}}, "name"},
		{"dotdot", "mounts", []HostMount{{Index: 1, Name: ".."}}, "name"},
		{"absolute", "mounts", []HostMount{{Index: 1, Name: "/etc"}}, "name"},
		{"three", "mounts", []HostMount{{Index: 1, Name: "1/a/b"}}, "name"},
		{"trailing slash", "mounts", []HostMount{{Index: 1, Name: "1/"}}, "name"},
		{"nul", "mounts", []HostMount{{Index: 1, Name: "1/a\x00b"}}, "name"},
		{"empty", "mounts", []HostMount{{Index: 1}}, "name"},
		{"too many", "mounts", make([]HostMount, MaxHostMounts+1), "at most"},
	} {
		a := &CreateArgs{ID: "c", Bundle: "/b", Spec: json.RawMessage(`{}`), Stdio: StdioNull, MountsTag: c.tag, HostMounts: c.ms}
		err := validateArgs(&Request{Op: OpCreate}, a)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
