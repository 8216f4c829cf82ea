package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// testServer serves srv on a Unix socket; the fake runtime makes its
// containers unless the caller set one.
func testServer(t *testing.T, srv *Server) (*Server, string) {
	t.Helper()
	if srv.Name == "" {
		srv.Name = "hull-agent test"
	}
	if srv.rt == nil {
		srv.rt = &fakeRuntime{}
	}
	dir, err := os.MkdirTemp("", "hull-srv") // short: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "a.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return srv, path
}

func dialClient(t *testing.T, path string) *proto.Client {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := proto.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// attach opens a stream connection; a refused one is the agent's *proto.Error.
func attach(t *testing.T, path string, id proto.StreamID) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proto.NewConn(c).ClientHello(proto.RoleStream, &id); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func mustAttach(t *testing.T, path string, id proto.StreamID) net.Conn {
	t.Helper()
	c, err := attach(t, path, id)
	if err != nil {
		t.Fatalf("attach %+v: %v", id, err)
	}
	return c
}

// readToEOF reads a stream until the agent closes it.
func readToEOF(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the stream to its end: %v (got %q)", err, b)
	}
	return string(b)
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var e *proto.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("%s: %v, want an error with code %s", what, err, code)
	}
}

func specJSON(t *testing.T, args ...string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(&specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: args, Cwd: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func createStream(t *testing.T, cl *proto.Client, id string, terminal bool, args ...string) {
	t.Helper()
	var res proto.CreateResult
	if _, err := cl.Call(proto.OpCreate, &proto.CreateArgs{ID: id, Bundle: "/b", Spec: specJSON(t, args...),
		Stdio: proto.StdioStream, Terminal: terminal}, &res); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

func call(t *testing.T, cl *proto.Client, op proto.Op, args, result any) {
	t.Helper()
	if _, err := cl.Call(op, args, result); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func stdioID(id, exec, stream string) proto.StreamID {
	return proto.StreamID{Container: id, Exec: exec, Stream: stream}
}

// TestStreamStdio: with StdioStream, stdin goes in over its connection
// and its EOF reaches the process; what the process wrote before stdout
// and stderr attached waited in the pipes, and each stream ends (the
// agent closes it) once all of it is delivered; a stream attaches once.
func TestStreamStdio(t *testing.T) {
	_, path := testServer(t, &Server{})
	cl := dialClient(t, path)
	createStream(t, cl, "c1", false, "sh", "-c", "read x; echo got $x; echo err >&2; exit 4")
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c1"}, nil)
	in := mustAttach(t, path, stdioID("c1", "", "stdin"))
	if _, err := in.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	in.Close()
	var w proto.WaitResult
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c1"}, &w)
	if w.Status != 4 || w.Signal != 0 {
		t.Errorf("wait: %s, want exit status 4", w)
	}
	// The process is gone; its output waited for the streams.
	if got := readToEOF(t, mustAttach(t, path, stdioID("c1", "", "stdout"))); got != "got hi\n" {
		t.Errorf("stdout %q, want %q", got, "got hi\n")
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c1", "", "stderr"))); got != "err\n" {
		t.Errorf("stderr %q, want %q", got, "err\n")
	}
	for _, sid := range []proto.StreamID{stdioID("c1", "", "stdout"), stdioID("c1", "", "stdin")} {
		_, err := attach(t, path, sid)
		wantCode(t, "second attach of "+sid.Stream, err, proto.CodeState)
	}
	_, err := attach(t, path, stdioID("c2", "", "stdout"))
	wantCode(t, "attach to no container", err, proto.CodeNotFound)
	_, err = attach(t, path, stdioID("c1", "e1", "stdout"))
	wantCode(t, "attach to no exec", err, proto.CodeNotFound)
	_, err = attach(t, path, stdioID("c1", "", "stdtty"))
	wantCode(t, "attach to no such stream", err, proto.CodeBadRequest)
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c1"}, nil)
}

// TestStreamWhileRunning: output flows while the process runs, and the
// end of stdin is what ends it.
func TestStreamWhileRunning(t *testing.T) {
	_, path := testServer(t, &Server{})
	cl := dialClient(t, path)
	createStream(t, cl, "cat", false, "cat")
	out := mustAttach(t, path, stdioID("cat", "", "stdout"))
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "cat"}, nil)
	in := mustAttach(t, path, stdioID("cat", "", "stdin"))
	_ = out.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 16)
	for _, line := range []string{"one\n", "two\n"} {
		if _, err := in.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(out, buf[:len(line)]); err != nil || string(buf[:len(line)]) != line {
			t.Fatalf("echo of %q: %q, %v", line, buf[:len(line)], err)
		}
	}
	in.(*net.UnixConn).CloseWrite()
	if rest := readToEOF(t, out); rest != "" {
		t.Errorf("after stdin's end: %q", rest)
	}
	var w proto.WaitResult
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "cat"}, &w)
	if w.Status != 0 {
		t.Errorf("cat: %s", w)
	}
}

// TestCloseStdin: close-stdin ends stdin without a stream attached, twice
// is fine, and the closed stream no longer attaches; without StdioStream
// there is nothing to close.
func TestCloseStdin(t *testing.T) {
	_, path := testServer(t, &Server{})
	cl := dialClient(t, path)
	createStream(t, cl, "c", false, "sh", "-c", "cat; echo done")
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c"}, nil)
	call(t, cl, proto.OpCloseStdin, &proto.IDArgs{ID: "c"}, nil)
	call(t, cl, proto.OpCloseStdin, &proto.IDArgs{ID: "c"}, nil)
	var w proto.WaitResult
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c"}, &w)
	if w.Status != 0 {
		t.Errorf("wait: %s", w)
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c", "", "stdout"))); got != "done\n" {
		t.Errorf("stdout %q", got)
	}
	_, err := attach(t, path, stdioID("c", "", "stdin"))
	wantCode(t, "attach of a closed stdin", err, proto.CodeState)

	// An attached stdin: close-stdin ends the copy and the connection
	// (bytes not yet copied are dropped: the end of the connection is
	// the way to end stdin after all of them).
	createStream(t, cl, "d", false, "cat")
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "d"}, nil)
	out := mustAttach(t, path, stdioID("d", "", "stdout"))
	in := mustAttach(t, path, stdioID("d", "", "stdin"))
	if _, err := in.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	_ = out.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "x\n" {
		t.Fatalf("cat echoed %q, %v", buf, err)
	}
	call(t, cl, proto.OpCloseStdin, &proto.IDArgs{ID: "d"}, nil)
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "d"}, &w)
	if got := readToEOF(t, out); got != "" || w.Status != 0 {
		t.Errorf("stdout after close-stdin %q, %s", got, w)
	}
	if got := readToEOF(t, in); got != "" {
		t.Errorf("the agent sent %q on stdin", got)
	}

	var res proto.CreateResult
	call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: "n", Bundle: "/b", Spec: specJSON(t, "true"), Stdio: proto.StdioNull}, &res)
	_, err = cl.Call(proto.OpCloseStdin, &proto.IDArgs{ID: "n"}, nil)
	wantCode(t, "close-stdin with stdio null", err, proto.CodeState)
	_, err = cl.Call(proto.OpCloseStdin, &proto.IDArgs{ID: "c", Exec: "e9"}, nil)
	wantCode(t, "close-stdin of no exec", err, proto.CodeNotFound)
}

// TestStreamTerminal: with a terminal the pty's master is the one output
// stream ("stdout") and takes stdin; resize sets its window size, before
// and after the process starts; there is no stderr.
func TestStreamTerminal(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	_, path := testServer(t, &Server{})
	cl := dialClient(t, path)
	createStream(t, cl, "tty", true, "sh", "-c", "stty size; read x; stty size; echo bye $x; exit 3")
	call(t, cl, proto.OpResize, &proto.ResizeArgs{ID: "tty", Width: 100, Height: 40}, nil)
	out := mustAttach(t, path, stdioID("tty", "", "stdout"))
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "tty"}, nil)
	_, err := attach(t, path, stdioID("tty", "", "stderr"))
	wantCode(t, "stderr of a terminal", err, proto.CodeNotFound)

	got := make(chan string, 1)
	var sofar syncBuffer
	go func() {
		_ = out.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 256)
		for {
			n, err := out.Read(b)
			sofar.Write(b[:n])
			if err != nil {
				got <- sofar.String()
				return
			}
		}
	}()
	waitFor(t, func() bool { return strings.Contains(sofar.String(), "40 100") })
	call(t, cl, proto.OpResize, &proto.ResizeArgs{ID: "tty", Width: 132, Height: 50}, nil)
	in := mustAttach(t, path, stdioID("tty", "", "stdin"))
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	var w proto.WaitResult
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "tty"}, &w)
	if w.Status != 3 {
		t.Errorf("wait: %s", w)
	}
	select {
	case s := <-got: // the master's end: the agent closed the stream
		if !strings.Contains(s, "40 100\r\n") || !strings.Contains(s, "50 132\r\n") || !strings.Contains(s, "bye go\r\n") {
			t.Errorf("terminal output %q: want both sizes and the answer", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the terminal's stream did not end; so far %q", sofar.String())
	}

	createStream(t, cl, "plain", false, "true")
	_, err = cl.Call(proto.OpResize, &proto.ResizeArgs{ID: "plain", Width: 1, Height: 1}, nil)
	wantCode(t, "resize without a terminal", err, proto.CodeUnsupported)
	_, err = cl.Call(proto.OpResize, &proto.ResizeArgs{ID: "tty", Exec: "e1", Width: 1, Height: 1}, nil)
	wantCode(t, "resize of no exec", err, proto.CodeNotFound)
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "tty"}, nil)
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "plain"}, nil)
}

// TestStreamExec: an exec's streams are named by the exec; they work as
// the container's do, with a terminal too.
func TestStreamExec(t *testing.T) {
	_, path := testServer(t, &Server{})
	cl := dialClient(t, path)
	createStream(t, cl, "c", false, "cat")
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c"}, nil)
	proc := json.RawMessage(`{"args":["sh","-c","read x; echo exec-out $x; echo exec-err >&2; exit 5"],"cwd":"/"}`)
	var res proto.CreateResult
	call(t, cl, proto.OpExec, &proto.ExecArgs{ID: "c", Exec: "e1", Process: proc, Stdio: proto.StdioStream}, &res)
	if res.Pid <= 0 {
		t.Errorf("exec pid %d", res.Pid)
	}
	in := mustAttach(t, path, stdioID("c", "e1", "stdin"))
	in.Write([]byte("in\n"))
	in.Close()
	var w proto.WaitResult
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c", Exec: "e1"}, &w)
	if w.Status != 5 {
		t.Errorf("exec wait: %s", w)
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c", "e1", "stdout"))); got != "exec-out in\n" {
		t.Errorf("exec stdout %q", got)
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c", "e1", "stderr"))); got != "exec-err\n" {
		t.Errorf("exec stderr %q", got)
	}
	proc = json.RawMessage(`{"args":["sh","-c","stty size"],"cwd":"/","terminal":true}`)
	call(t, cl, proto.OpExec, &proto.ExecArgs{ID: "c", Exec: "e2", Process: proc, Stdio: proto.StdioStream, Terminal: true}, &res)
	call(t, cl, proto.OpResize, &proto.ResizeArgs{ID: "c", Exec: "e2", Width: 80, Height: 24}, nil)
	if got := readToEOF(t, mustAttach(t, path, stdioID("c", "e2", "stdout"))); !strings.HasSuffix(got, "\r\n") {
		t.Errorf("exec terminal output %q", got)
	}
	// The container's own streams are still there, apart from the execs'.
	out := mustAttach(t, path, stdioID("c", "", "stdout"))
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c"}, nil)
	if got := readToEOF(t, out); got != "" {
		t.Errorf("container stdout %q", got)
	}
}

// TestDeleteReleasesStreams: a delete closes what nobody attached: the
// agent holds no descriptor of a deleted container.
func TestDeleteReleasesStreams(t *testing.T) {
	_, path := testServer(t, &Server{})
	cl := dialClient(t, path)
	call(t, cl, proto.OpPing, nil, nil)
	before := openFDs(t)
	createStream(t, cl, "c", false, "cat")
	createStream(t, cl, "t", true, "cat")
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c"}, nil)
	if n := openFDs(t); n < before+3+4 {
		t.Fatalf("%d descriptors open after two creates, %d before: want the streams' ends", n, before)
	}
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c"}, nil)
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "t"}, nil)
	waitFor(t, func() bool { return openFDs(t) <= before })
	_, err := attach(t, path, stdioID("c", "", "stdout"))
	wantCode(t, "attach after delete", err, proto.CodeNotFound)
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(es)
}

// mountingServer is a server with a fake runtime and mounter whose
// containers live under dir, a client of it, and a config running true.
func mountingServer(t *testing.T) (rt *fakeRuntime, m *fakeMounter, dir string, cl *proto.Client, spec specs.Spec) {
	rt, m, dir = &fakeRuntime{}, &fakeMounter{}, t.TempDir()
	_, path := testServer(t, &Server{rt: rt, Mounter: m, ContainerDir: dir, Reaper: fakeReaper{}})
	_ = json.Unmarshal(specJSON(t, "true"), &spec)
	return rt, m, dir, dialClient(t, path), spec
}

// TestCreateRootfsTag: a RootfsTag share is mounted (9p over virtio,
// read-only with root.readonly) on the container's directory, which
// becomes its root; it is unmounted at delete and when the create fails.
// The Server hands its Reaper to the container code.
func TestCreateRootfsTag(t *testing.T) {
	rt, m, dir, cl, spec := mountingServer(t)
	spec.Root.Readonly = true
	b, _ := json.Marshal(&spec)
	var res proto.CreateResult
	call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: "c1", Bundle: "/host/bundle", RootfsTag: "rootfs-c1",
		Spec: b, Stdio: proto.StdioNull}, &res)
	root := filepath.Join(dir, "c1", "rootfs")
	mounts, unmounts := m.calls()
	want := Mount{Source: "rootfs-c1", Target: root, FSType: "9p", Flags: unix.MS_RDONLY,
		Data: "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"}
	if len(mounts) != 1 || mounts[0] != want || len(unmounts) != 0 {
		t.Fatalf("mounts %+v, unmounts %q; want %+v", mounts, unmounts, want)
	}
	o := rt.options()[0]
	if o.Spec.Root.Path != root || o.Bundle != "/host/bundle" || o.Reaper != (fakeReaper{}) {
		t.Errorf("container options: root %q bundle %q reaper %v", o.Spec.Root.Path, o.Bundle, o.Reaper)
	}
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c1"}, nil)
	if _, unmounts = m.calls(); len(unmounts) != 1 || unmounts[0] != root {
		t.Errorf("unmounts %q after delete, want %s", unmounts, root)
	}
	if _, err := os.Stat(filepath.Join(dir, "c1")); !os.IsNotExist(err) {
		t.Errorf("the container's directory is left: %v", err)
	}

	// A writable root; the container code fails: unmounted, id free.
	rt.setFail(errors.New("no such file: /bin/true"))
	_, err := cl.Call(proto.OpCreate, &proto.CreateArgs{ID: "c2", Bundle: "/b", RootfsTag: "t2",
		Spec: specJSON(t, "true"), Stdio: proto.StdioStream}, nil)
	wantCode(t, "create that fails", err, proto.CodeFailed)
	mounts, unmounts = m.calls()
	if len(mounts) != 2 || mounts[1].Flags != 0 || len(unmounts) != 2 || unmounts[1] != filepath.Join(dir, "c2", "rootfs") {
		t.Errorf("after a failed create: mounts %+v, unmounts %q", mounts, unmounts)
	}
	rt.setFail(nil)
	call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: "c2", Bundle: "/b", Spec: specJSON(t, "true"), Stdio: proto.StdioNull}, &res)

	// The mount fails: no container is made.
	m.setFail(errors.New("no such device"))
	n := len(rt.options())
	_, err = cl.Call(proto.OpCreate, &proto.CreateArgs{ID: "c3", Bundle: "/b", RootfsTag: "t3",
		Spec: specJSON(t, "true"), Stdio: proto.StdioNull}, nil)
	wantCode(t, "create whose mount fails", err, proto.CodeFailed)
	if err == nil || !strings.Contains(err.Error(), "no such device") || len(rt.options()) != n {
		t.Errorf("mount failure: %v; the container code was called %d times more", err, len(rt.options())-n)
	}

	// An agent without a Mounter refuses the tag.
	_, path2 := testServer(t, &Server{})
	_, err = dialClient(t, path2).Call(proto.OpCreate, &proto.CreateArgs{ID: "c", Bundle: "/b", RootfsTag: "t",
		Spec: specJSON(t, "true"), Stdio: proto.StdioNull}, nil)
	wantCode(t, "rootfsTag without a Mounter", err, proto.CodeUnsupported)
}

// TestShutdown: an agent with Shutdown answers, then shuts down; one
// without (the process sandbox) refuses.
func TestShutdown(t *testing.T) {
	called := make(chan struct{})
	_, path := testServer(t, &Server{Name: "hull-agent vm", Shutdown: func() { close(called) }})
	cl := dialClient(t, path)
	if cl.Agent != "hull-agent vm" {
		t.Errorf("agent %q", cl.Agent)
	}
	call(t, cl, proto.OpShutdown, nil, nil)
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown not called after the answer")
	}
	_, path = testServer(t, &Server{})
	_, err := dialClient(t, path).Call(proto.OpShutdown, nil, nil)
	wantCode(t, "shutdown without Shutdown", err, proto.CodeUnsupported)
}

// TestHelloRefusals: the agent's own Hello handling refuses what
// proto.Conn.ServerHello refuses.
func TestHelloRefusals(t *testing.T) {
	_, path := testServer(t, &Server{})
	for _, h := range []proto.Hello{
		{Version: proto.ProtocolVersion{Major: 2}, Role: proto.RoleControl},
		{Version: proto.Version, Role: "gossip"},
		{Version: proto.Version, Role: proto.RoleStream},
		{Version: proto.Version, Role: proto.RoleStream, Stream: &proto.StreamID{Container: "../x", Stream: "stdout"}},
	} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if err := proto.WriteFrame(c, &h); err != nil {
			t.Fatal(err)
		}
		b, err := proto.ReadFrame(c)
		c.Close()
		var reply proto.Hello
		if err != nil || json.Unmarshal(b, &reply) != nil || reply.Error == nil {
			t.Errorf("hello %+v: answer %s, %v; want an error", h, b, err)
		}
	}
}

// TestCreateHostMounts: the bind mounts' share is mounted (writable: the
// host makes read-only entries read-only) on the container's directory,
// each listed bind's source points into it, other mounts stay as they
// were; unmounted at delete, and when the create fails. Host mounts that
// name no bind mount or no mount at all are refused before anything is
// mounted.
func TestCreateHostMounts(t *testing.T) {
	rt, m, dir, cl, spec := mountingServer(t)
	spec.Mounts = []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/data", Type: "bind", Source: "/host/data", Options: []string{"rbind", "rw"}},
		{Destination: "/etc/hosts", Source: "/host/hosts", Options: []string{"bind", "ro"}},
		{Destination: "/dev/null2", Source: "/dev/null", Options: []string{"bind"}},
	}
	b, _ := json.Marshal(&spec)
	hm := []proto.HostMount{{Index: 1, Name: "1/data"}, {Index: 2, Name: "2/hosts"}}
	call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: "c1", Bundle: "/host/bundle", RootfsTag: "rootfs",
		MountsTag: "mounts", HostMounts: hm, Spec: b, Stdio: proto.StdioNull}, nil)
	root, share := filepath.Join(dir, "c1", "rootfs"), filepath.Join(dir, "c1", "mounts")
	mounts, _ := m.calls()
	want := Mount{Source: "mounts", Target: share, FSType: "9p", Data: Rootfs9pOptions}
	if len(mounts) != 2 || mounts[0].Target != root || mounts[1] != want {
		t.Fatalf("mounts %+v; want the root, then %+v", mounts, want)
	}
	got := rt.options()[0].Spec.Mounts
	for i, src := range []string{"proc", filepath.Join(share, "1/data"), filepath.Join(share, "2/hosts"), "/dev/null"} {
		if got[i].Source != src {
			t.Errorf("mounts[%d].source %q, want %q", i, got[i].Source, src)
		}
	}
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c1"}, nil)
	if _, unmounts := m.calls(); len(unmounts) != 2 || unmounts[0] != share || unmounts[1] != root {
		t.Errorf("unmounts %q after delete, want %s then %s", unmounts, share, root)
	}
	if _, err := os.Stat(filepath.Join(dir, "c1")); !os.IsNotExist(err) {
		t.Errorf("the container's directory is left: %v", err)
	}

	// The container code fails: both shares unmounted.
	rt.setFail(errors.New("no such file: /bin/true"))
	_, err := cl.Call(proto.OpCreate, &proto.CreateArgs{ID: "c2", Bundle: "/b", RootfsTag: "rootfs",
		MountsTag: "mounts", HostMounts: hm, Spec: b, Stdio: proto.StdioNull}, nil)
	wantCode(t, "create that fails", err, proto.CodeFailed)
	if mounts, unmounts := m.calls(); len(mounts) != 4 || len(unmounts) != 4 {
		t.Errorf("after a failed create: mounts %+v, unmounts %q", mounts, unmounts)
	}
	rt.setFail(nil)

	// Host mounts that do not fit the config: refused, nothing mounted.
	for _, c := range []struct {
		name string
		hm   []proto.HostMount
	}{
		{"not a bind mount", []proto.HostMount{{Index: 0, Name: "0"}}},
		{"past the mounts", []proto.HostMount{{Index: 4, Name: "4"}}},
	} {
		n, _ := m.calls()
		_, err := cl.Call(proto.OpCreate, &proto.CreateArgs{ID: "c3", Bundle: "/b", RootfsTag: "rootfs",
			MountsTag: "mounts", HostMounts: c.hm, Spec: b, Stdio: proto.StdioNull}, nil)
		wantCode(t, c.name, err, proto.CodeBadRequest)
		if now, _ := m.calls(); len(now) != len(n) {
			t.Errorf("%s: mounted %+v", c.name, now[len(n):])
		}
	}
}
