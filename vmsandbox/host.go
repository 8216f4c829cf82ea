// Package vmsandbox is the vm sandbox's host process (`hull __vm-sandbox`,
// DESIGN.md §2: runtime ─▶ vm sandbox ─▶ vmm): the VMM that boots a
// container's microVM, has hull-agent create the container, relays its
// stdio and exits with its status. package runtime starts it and talks to
// the agent it serves; it is a package of its own so that runtime itself
// never imports vmm.
package vmsandbox

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmm"
	"github.com/hullvm/hull/vmm/api"
	"github.com/hullvm/hull/vmsandbox/tcnet"
)

// Main is the vm sandbox's host process (`hull __vm-sandbox`),
// started by `hull create` with the container's stdio as its own, the
// create report pipe as fd 3 and <dir>/vm.log as fd 4. It returns the exit
// status: the container's.
func Main(args []string) int {
	fs := flag.NewFlagSet(runtime.VMSandboxCommand, flag.ContinueOnError)
	id := fs.String("id", "", "container id")
	dir := fs.String("dir", "", "the container's state directory")
	bundle := fs.String("bundle", "", "the bundle")
	ttyFD := fs.Int("tty-fd", -1, "the host terminal's slave, with process.terminal (tty.go)")
	ownNS := fs.Bool(runtime.VMMountNSFlag, false, "this process has a mount namespace of its own (mounts.go)")
	newTimeline := timelineFlags(fs) // timeline.go
	if err := fs.Parse(args); err != nil || *id == "" || *dir == "" || *bundle == "" {
		fmt.Fprintln(os.Stderr, "hull __vm-sandbox: internal command of the vm sandbox; started by `hull create`")
		return 2
	}
	report := os.NewFile(runtime.VMReportFD, "report")
	logw := os.NewFile(runtime.VMLogFD, "vm.log")
	h := &vmHost{id: *id, dir: *dir, bundle: *bundle, ttyFD: *ttyFD, ownNS: *ownNS, start: time.Now(), sb: runtime.VMSandbox(""),
		log: log.New(logw, "hull-vm["+*id+"] ", log.LstdFlags|log.Lmicroseconds)}
	h.tl = newTimeline(h.id, h.start)
	defer h.closeNetwork() // net.go: after the VM has stopped
	pid, err := h.create()
	if err != nil {
		h.log.Printf("create failed: %v", err)
		h.stopVM()
		h.closeNetwork() // before the report: hull create kills this process on it
		json.NewEncoder(report).Encode(&runtime.VMReport{Error: err.Error(), Phases: h.tl.report(h.vm)})
		report.Close()
		return 1
	}
	json.NewEncoder(report).Encode(&runtime.VMReport{ContainerPid: pid, Phases: h.tl.report(h.vm)})
	report.Close()
	return h.run()
}

type vmHost struct {
	id, dir, bundle string
	ttyFD           int  // the host terminal's slave, or -1
	ownNS           bool // in a mount namespace of its own (mounts.go)
	start           time.Time
	log             *log.Logger
	sb              runtime.Sandbox
	cancel          context.CancelFunc
	vmDone          chan vmResult
	drain           func(time.Duration) bool
	tl              *timeline // the start-latency phases (timeline.go)
	vm              *vmm.VM
	bootTimeout     time.Duration  // annotation hull.vm.boot_timeout
	agentUp         bool           // the agent answered: it can power the VM off
	restored        bool           // the VM came from a template (template.go)
	net             *tcnet.Network // the container's network namespace, connected (net.go)
	guestNet        *proto.Network // what the agent configures from it
}

type vmResult struct {
	exit *vmm.Exit
	err  error
}

func (h *vmHost) phase(what string) {
	h.log.Printf("timeline %s: %v", what, time.Since(h.start).Round(time.Microsecond))
	h.tl.mark(what)
}

// create boots the VM, waits for the agent and has it create the
// container, with the container's stdio attached to ours.
func (h *vmHost) create() (int, error) {
	raw, err := os.ReadFile(filepath.Join(h.dir, "config.json"))
	if err != nil {
		return 0, err
	}
	spec, err := runtime.ReadSpec(h.dir)
	if err != nil {
		return 0, err
	}
	lim, err := runtime.VMLimitsOf(spec) // checked by create already; the host may have changed
	if err != nil {
		return 0, err
	}
	mem, cpus := lim.MemMiB, lim.CPUs
	h.bootTimeout = lim.BootTimeout
	kernel, initrd, err := guestimage.Default()
	if err != nil {
		return 0, err
	}
	console, err := os.OpenFile(filepath.Join(h.dir, "console.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	share, hostMounts, err := mountsShare(h.dir, spec, h.bundle, h.ownNS)
	if err != nil {
		console.Close()
		return 0, err
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = "hull"
	}
	cfg := vmm.Config{
		Kernel: kernel, Initrd: initrd, MemMiB: mem, CPUs: cpus,
		Cmdline:     "console=ttyS0 reboot=k panic=-1 quiet hull.hostname=" + hostname,
		Console:     console,
		ReadyMarker: agent.ReadyLine,
		Vsock:       &vmm.Vsock{CID: 3, UDSPath: filepath.Join(h.dir, runtime.VsockFile)},
		Shares: []vmm.Share{{Tag: runtime.RootfsTag, Path: runtime.RootfsPath(spec, h.bundle), ReadOnly: spec.Root.Readonly},
			share},
		Start: h.start,
	}
	if cfg.Nets, err = h.setupNetwork(spec); err != nil {
		console.Close()
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	vm, err := h.startVM(ctx, cfg, spec) // template.go: restored from a template, or booted
	if err != nil {
		console.Close()
		return 0, err
	}
	h.vm = vm
	h.vmDone = make(chan vmResult, 1)
	go func() {
		exit := vm.Wait()
		console.Close()
		h.vmDone <- vmResult{exit, nil}
	}()
	// The control socket: `hull pause`/`resume` pause the vCPUs through it.
	ln, err := api.Listen(filepath.Join(h.dir, runtime.VMMSocketFile))
	if err != nil {
		return 0, err
	}
	api.Serve(ln, vm)
	h.phase(runtime.PhaseVMMStart)
	cl, conn, err := h.waitAgent()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	h.agentUp = true
	// What follows is the guest's to answer too: bounded, like the boot.
	if err := conn.SetDeadline(time.Now().Add(max(h.bootTimeout, time.Minute))); err != nil {
		return 0, err
	}
	h.phase(runtime.PhaseAgentReady)
	if h.restored {
		if err := h.sendRestored(cl); err != nil {
			return 0, err
		}
	}
	var res proto.CreateResult
	args := &proto.CreateArgs{ID: h.id, Bundle: h.bundle, Spec: raw, Stdio: proto.StdioStream, Terminal: spec.Process.Terminal,
		RootfsTag: runtime.RootfsTag, Annotations: spec.Annotations}
	if len(hostMounts) > 0 {
		if v := cl.Version; v.Major == proto.Version.Major && v.Minor < 3 {
			return 0, fmt.Errorf("the guest image's agent speaks protocol %s and cannot bind host paths (1.3): rebuild the image (hull image build)", v)
		}
		args.MountsTag, args.HostMounts = runtime.MountsTag, hostMounts
	}
	if args.Network, err = h.networkFor(cl); err != nil {
		return 0, err
	}
	if _, err := cl.Call(proto.OpCreate, args, &res); err != nil {
		return 0, err
	}
	h.drain, err = h.attachStdio(spec.Process.Terminal)
	if err != nil {
		return 0, err
	}
	h.phase(runtime.PhaseContainerCreated)
	return res.Pid, nil
}

// waitAgent connects to the agent's port until it answers, the VM stops
// or the boot timeout passes (wait.go).
func (h *vmHost) waitAgent() (*proto.Client, net.Conn, error) {
	return h.agentWait(h.dir, func() (string, bool) {
		select {
		case r := <-h.vmDone:
			h.vmDone <- r
			return describeVMEnd(r), true
		default:
			return "", false
		}
	}).wait()
}

// agentWait waits for the agent of the VM whose vsock socket is in dir
// (the container's, or a template VM's), with the container's boot
// timeout; stopped says why the VM stopped, once it has.
func (h *vmHost) agentWait(dir string, stopped func() (string, bool)) *agentWait {
	return &agentWait{
		dial:    func() (net.Conn, error) { return h.sb.Dial(dir) },
		stopped: stopped,
		timeout: h.bootTimeout, retry: runtime.AgentRetryMS * time.Millisecond, hello: helloTimeout,
		logf: h.log.Printf,
	}
}

func describeVMEnd(r vmResult) string {
	if r.err != nil {
		return r.err.Error()
	}
	if r.exit != nil {
		return r.exit.String()
	}
	return "no reason"
}

// run serves the started container until it exits: signals go on to it;
// when it has exited and its output is delivered, the VM powers off and
// the container's status is returned.
func (h *vmHost) run() int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	go func() {
		for s := range sigs {
			sig, ok := proto.Forwarded(s)
			if !ok {
				continue
			}
			if err := h.call(proto.OpSignal, &proto.SignalArgs{ID: h.id, Signal: int(sig)}, nil); err != nil {
				h.log.Printf("forwarding %v: %v", sig, err)
			}
		}
	}()
	waited := make(chan proto.WaitResult, 1)
	go func() {
		var w proto.WaitResult
		if err := h.call(proto.OpWait, &proto.IDArgs{ID: h.id}, &w); err != nil {
			h.log.Printf("wait: %v", err)
			w = proto.WaitResult{Status: 255}
		}
		waited <- w
	}()
	var w proto.WaitResult
	select {
	case w = <-waited:
	case r := <-h.vmDone:
		h.log.Printf("the VM stopped while the container ran: %s", describeVMEnd(r))
		return 255
	}
	h.log.Printf("container exited: %s", w)
	h.phase(runtime.PhaseContainerExited)
	if h.drain != nil && !h.drain(10*time.Second) {
		h.log.Printf("the container's output did not end within 10 s of its exit")
	}
	h.stopVM()
	return w.Status
}

func (h *vmHost) call(op proto.Op, args, result any) error {
	return runtime.CallAgent(h.sb, h.dir, op, args, result)
}

// stopVM asks the agent to power the VM off and waits for the VMM; a VM
// that does not stop in time is stopped by cancelling it.
func (h *vmHost) stopVM() {
	if h.vmDone == nil {
		return
	}
	if !h.agentUp {
		// Nobody in the guest to ask (it never answered): stop it now.
		h.cancel()
	} else if err := h.call(proto.OpShutdown, nil, nil); err != nil && !errors.Is(err, os.ErrClosed) {
		h.log.Printf("shutdown request: %v", err)
	}
	select {
	case r := <-h.vmDone:
		h.log.Printf("VM stopped: %s", describeVMEnd(r))
	case <-time.After(10 * time.Second):
		h.cancel()
		r := <-h.vmDone
		h.log.Printf("VM cancelled after 10 s: %s", describeVMEnd(r))
	}
	h.phase(runtime.PhaseVMStopped)
}
