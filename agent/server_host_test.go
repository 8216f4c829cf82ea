package agent

import (
	"encoding/json"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/internal/testtier"
)

// The host tier: the Server through the real container code (root, a
// static busybox), as hull-agent runs it in a guest: streams for stdio,
// and a reaper that waits for every child, here for the duration of the
// test.

// hostBundle makes a bundle whose rootfs holds a static busybox.
func hostBundle(t *testing.T) string {
	t.Helper()
	testtier.RequireRoot(t)
	bundle := t.TempDir()
	testbundle.Rootfs(t, bundle, "sh", "echo", "cat", "stty", "sleep")
	return bundle
}

func hostSpec(t *testing.T, args ...string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(&specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace}, {Type: specs.IPCNamespace}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runReaper reaps every child of the test process until the test ends,
// as hull-agent does as PID 1.
func runReaper(t *testing.T) *reaper {
	rp := newReaper()
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			rp.reap()
			select {
			case <-stop:
				return
			case <-chld:
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		signal.Stop(chld)
		close(stop)
		<-stopped
	})
	return rp
}

// TestServerStreamsHost: a real container with StdioStream, its statuses
// collected through the reaper: stdin in, stdout and stderr out, the exit
// status; an exec's streams; a terminal's size.
func TestServerStreamsHost(t *testing.T) {
	bundle := hostBundle(t)
	rp := runReaper(t) // registered before the server: it outlives it
	_, path := testServer(t, &Server{InitCommand: []string{"/proc/self/exe", InitVerb}, Reaper: rp, rt: realRuntime{}})
	cl := dialClient(t, path)
	create := func(id string, terminal bool, args ...string) {
		t.Helper()
		var res proto.CreateResult
		call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: id, Bundle: bundle, Spec: hostSpec(t, args...),
			Stdio: proto.StdioStream, Terminal: terminal}, &res)
		if res.Pid <= 0 {
			t.Fatalf("create %s: pid %d", id, res.Pid)
		}
		t.Cleanup(func() { _, _ = cl.Call(proto.OpDelete, &proto.IDArgs{ID: id}, nil) })
	}

	create("c1", false, "sh", "-c", "read x; echo got $x; echo err >&2; exit 4")
	out := mustAttach(t, path, stdioID("c1", "", "stdout"))
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c1"}, nil)
	in := mustAttach(t, path, stdioID("c1", "", "stdin"))
	if _, err := in.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	in.Close()
	var w proto.WaitResult
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c1"}, &w)
	if w.Status != 4 || w.Signal != 0 {
		t.Errorf("wait: %s, want exit status 4 (through the reaper)", w)
	}
	if got := readToEOF(t, out); got != "got hi\n" {
		t.Errorf("stdout %q, want %q", got, "got hi\n")
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c1", "", "stderr"))); got != "err\n" {
		t.Errorf("stderr %q, want %q", got, "err\n")
	}
	var st proto.StateResult
	call(t, cl, proto.OpState, &proto.IDArgs{ID: "c1"}, &st)
	if st.Status != "stopped" || st.ExitStatus != 4 {
		t.Errorf("state %+v", st)
	}
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c1"}, nil)

	create("c2", false, "cat")
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c2"}, nil)
	proc := json.RawMessage(`{"args":["sh","-c","echo exec-out; echo exec-err >&2; exit 5"],"cwd":"/","env":["PATH=/bin"]}`)
	var res proto.CreateResult
	call(t, cl, proto.OpExec, &proto.ExecArgs{ID: "c2", Exec: "e1", Process: proc, Stdio: proto.StdioStream}, &res)
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c2", Exec: "e1"}, &w)
	if w.Status != 5 {
		t.Errorf("exec wait: %s, want exit status 5", w)
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c2", "e1", "stdout"))); got != "exec-out\n" {
		t.Errorf("exec stdout %q", got)
	}
	if got := readToEOF(t, mustAttach(t, path, stdioID("c2", "e1", "stderr"))); got != "exec-err\n" {
		t.Errorf("exec stderr %q", got)
	}
	c2out := mustAttach(t, path, stdioID("c2", "", "stdout"))
	call(t, cl, proto.OpCloseStdin, &proto.IDArgs{ID: "c2"}, nil) // cat ends
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c2"}, &w)
	if got := readToEOF(t, c2out); w.Status != 0 || got != "" {
		t.Errorf("cat after close-stdin: %s, output %q", w, got)
	}
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c2"}, nil)

	create("c3", true, "sh", "-c", "stty size; exit 2")
	call(t, cl, proto.OpResize, &proto.ResizeArgs{ID: "c3", Width: 100, Height: 40}, nil)
	tty := mustAttach(t, path, stdioID("c3", "", "stdout"))
	call(t, cl, proto.OpStart, &proto.IDArgs{ID: "c3"}, nil)
	call(t, cl, proto.OpWait, &proto.IDArgs{ID: "c3"}, &w)
	if got := readToEOF(t, tty); w.Status != 2 || !strings.Contains(got, "40 100\r\n") {
		t.Errorf("terminal: %s, output %q; want exit status 2 and the size set before start", w, got)
	}
	call(t, cl, proto.OpDelete, &proto.IDArgs{ID: "c3"}, nil)
}
