package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// Exec in the vm sandbox. No descriptor crosses into a VM: an exec's
// stdio goes over stream connections (stdio "stream"), relayed by a host
// process until the exec's output ends:
//
//   - plain `hull exec` relays in its own process and returns the exec's
//     status, as before;
//   - `hull exec --tty` and `hull exec --detach` start a relay,
//     `hull __vm-relay`, in a session of its own: with --tty its
//     controlling terminal is the host pty's slave (runtime/vmtty.go; the
//     master goes to --console-socket), else its stdio is the caller's,
//     inherited as runc's exec'd process would inherit it. It reports
//     once the streams are attached, ends when the exec's output has ended
//     and the exec has exited, and exits with the exec's status. A deleted
//     container's VM takes the streams, and so the relay, with it.
//
// --pid-file gets the exec's pid in the guest (the agent's answer), with
// or without --detach; it names no host process.

// VMRelayCommand is the hidden verb of an exec's relay in the vm sandbox.
const VMRelayCommand = "__vm-relay"

// relayReportFD is where a relay reports that its streams are attached.
const relayReportFD = 3

// relayTimeout bounds how long a non-detached exec waits for its relay
// after the exec exited: the output still in flight.
const relayTimeout = 10 * time.Second

// execVM runs p as exec name of a vm-sandbox container, over cl.
func (r *Runtime) execVM(cl *proto.Client, id, name string, p *specs.Process, raw []byte, o ExecOptions) (proto.WaitResult, error) {
	if len(o.ExtraFiles) > 0 {
		return proto.WaitResult{}, fmt.Errorf("the vm sandbox cannot pass --preserve-fds descriptors into a VM")
	}
	dir, err := filepath.Abs(r.store().dir(id))
	if err != nil {
		return proto.WaitResult{}, err
	}
	self := r.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	sb := &vmSandbox{self: self}
	var res proto.CreateResult
	args := &proto.ExecArgs{ID: id, Exec: name, Process: raw, Stdio: proto.StdioStream, Terminal: p.Terminal}
	if _, err := cl.Call(proto.OpExec, args, &res); err != nil {
		return proto.WaitResult{}, agentError(err, dir)
	}
	// From here on a failure leaves no exec behind.
	abandon := func(err error) (proto.WaitResult, error) {
		if kerr := CallAgent(sb, dir, proto.OpSignal, &proto.SignalArgs{ID: id, Exec: name, Signal: int(unix.SIGKILL)}, nil); kerr != nil {
			r.log().Warn("killing an exec that failed to start", "id", id, "exec", name, "err", kerr)
		}
		return proto.WaitResult{}, err
	}
	var wait func(time.Duration) bool
	var relay *exec.Cmd
	if !p.Terminal && !o.Detach {
		if wait, err = AttachStreams(sb, dir, id, name, o.Stdio[0], o.Stdio[1], o.Stdio[2]); err != nil {
			return abandon(err)
		}
	} else {
		var tty *hostTTY
		if p.Terminal {
			if tty, err = newHostTTY(p.ConsoleSize); err != nil {
				return abandon(err)
			}
			defer tty.Close() // on failure; closing twice does no harm
		}
		if relay, err = startRelay(self, dir, id, name, tty, o.Stdio); err != nil {
			return abandon(err)
		}
		// A relay is reaped by wait below, or released to init once detached.
		if tty != nil {
			err := sendConsole(o.ConsoleSocket, tty.master)
			// From now on the caller's master and the relay's slave are
			// the only copies: the caller closing the master hangs the
			// terminal up.
			tty.Close()
			if err != nil {
				return abandon(err) // the relay ends with the exec's output
			}
		}
		if !o.Detach {
			wait = waitProcess(relay)
		}
	}
	if o.PidFile != "" {
		// A host process that lives as long as the exec and exits with its
		// status, as runc's exec'd process does: the relay, or this process
		// (containerd's shim waits for that pid; the guest's pid means
		// nothing on the host).
		pid := os.Getpid()
		if relay != nil {
			pid = relay.Process.Pid
		}
		if err := writePidFile(o.PidFile, pid); err != nil {
			return abandon(fmt.Errorf("--pid-file: %w", err))
		}
	}
	if o.Detach {
		relay.Process.Release()
		return proto.WaitResult{}, nil
	}
	var w proto.WaitResult
	if _, err := cl.Call(proto.OpWait, &proto.IDArgs{ID: id, Exec: name}, &w); err != nil {
		return proto.WaitResult{}, err
	}
	if !wait(relayTimeout) && relay != nil {
		r.log().Warn("the exec's output did not end in time after it exited", "id", id, "exec", name)
		relay.Process.Kill()
		wait(relayTimeout)
	}
	return w, nil
}

// waitProcess returns a bounded wait for a started command.
func waitProcess(cmd *exec.Cmd) func(time.Duration) bool {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
			return true
		case <-t.C:
			return false
		}
	}
}

// relayReport is a relay's one line to the exec that started it.
type relayReport struct {
	Error string `json:"error,omitempty"`
}

// startRelay starts the relay of exec name and returns once its streams
// are attached; with tty its controlling terminal is tty's slave, else
// its stdio is stdio.
func startRelay(self, dir, id, name string, tty *hostTTY, stdio [3]*os.File) (*exec.Cmd, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	cmd := exec.Command(self, VMRelayCommand, "--dir", dir, "--id", id, "--exec", name)
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{wr} // relayReportFD
	if tty != nil {
		fd := 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, tty.slave)
		cmd.Args = append(cmd.Args, "--tty-fd", strconv.Itoa(fd))
		cmd.SysProcAttr = ttyProcAttr(fd)
	} else {
		// Nil stays nil: an interface holding a nil *os.File is not.
		if stdio[0] != nil {
			cmd.Stdin = stdio[0]
		}
		if stdio[1] != nil {
			cmd.Stdout = stdio[1]
		}
		if stdio[2] != nil {
			cmd.Stderr = stdio[2]
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the exec's relay: %w", err)
	}
	line, err := bufio.NewReader(io.LimitReader(rd, 64<<10)).ReadString('\n')
	var rep relayReport
	if jerr := json.Unmarshal([]byte(line), &rep); jerr != nil {
		rep.Error = fmt.Sprintf("the exec's relay exited before it attached (%v)", firstErr(err, jerr))
	}
	if rep.Error != "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New(rep.Error)
	}
	return cmd, nil
}

// RelayMain is `hull __vm-relay`: it relays one exec's stdio (see above)
// and returns the exec's status.
func RelayMain(args []string) int {
	fs := flag.NewFlagSet(VMRelayCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "the container's state directory")
	id := fs.String("id", "", "container id")
	name := fs.String("exec", "", "the exec's name")
	ttyFD := fs.Int("tty-fd", -1, "the host terminal's slave, this process's controlling terminal")
	if err := fs.Parse(args); err != nil || *dir == "" || *id == "" || *name == "" || fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hull %s: internal command of the vm sandbox; started by `hull exec`\n", VMRelayCommand)
		return 2
	}
	report := os.NewFile(relayReportFD, "report")
	var logw io.Writer = io.Discard
	if f, err := os.OpenFile(filepath.Join(*dir, "vm.log"), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		logw = f
	}
	lg := log.New(logw, "hull-relay["+*id+"/"+*name+"] ", log.LstdFlags|log.Lmicroseconds)
	sb := &vmSandbox{}
	wait, err := relayAttach(sb, *dir, *id, *name, *ttyFD, lg.Printf)
	rep := relayReport{}
	if err != nil {
		rep.Error = err.Error()
	}
	if jerr := json.NewEncoder(report).Encode(&rep); jerr != nil {
		lg.Printf("report: %v", jerr)
	}
	report.Close()
	if err != nil {
		lg.Printf("attach: %v", err)
		return 1
	}
	for !wait(time.Hour) {
	}
	var w proto.WaitResult
	if err := CallAgent(sb, *dir, proto.OpWait, &proto.IDArgs{ID: *id, Exec: *name}, &w); err != nil {
		lg.Printf("wait: %v", err)
		return 255
	}
	return w.Status
}

// relayAttach attaches the exec's streams: to the terminal at ttyFD, or
// (ttyFD < 0) to this process's stdio.
func relayAttach(sb Sandbox, dir, id, name string, ttyFD int, logf func(string, ...any)) (func(time.Duration) bool, error) {
	if ttyFD < 0 {
		return AttachStreams(sb, dir, id, name, os.Stdin, os.Stdout, os.Stderr)
	}
	// The caller closed the master: the exec's process gets SIGHUP, as
	// its terminal's hangup would give it with runc.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, unix.SIGHUP)
	go func() {
		for range hup {
			if err := CallAgent(sb, dir, proto.OpSignal, &proto.SignalArgs{ID: id, Exec: name, Signal: int(unix.SIGHUP)}, nil); err != nil {
				logf("forwarding SIGHUP: %v", err)
			}
		}
	}()
	slave, err := TTYFile(ttyFD)
	if err != nil {
		return nil, err
	}
	return AttachTerminal(sb, dir, id, name, slave, logf)
}
