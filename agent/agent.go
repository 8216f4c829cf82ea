package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hullvm/hull/agent/container"
	"github.com/hullvm/hull/agent/proto"
)

// System is what the agent does to the machine it runs on. linuxSystem
// (NewSystem) acts on the guest as PID 1; unit tests give a fake that
// records the calls.
type System interface {
	// ReadFile reads a file (the agent reads /proc/cmdline and /proc/uptime).
	ReadFile(name string) ([]byte, error)
	// Mount creates m.Target if needed and mounts m there.
	Mount(m Mount) error
	SetHostname(name string) error
	// LinkUp sets IFF_UP on a network interface.
	LinkUp(name string) error
	// WriteBootTimer writes the byte 123 at the boot timer's address.
	WriteBootTimer() error
	// ListenVsock listens on a vsock port; errors.Is(err, ErrNoVsock) when
	// the guest has no vsock device.
	ListenVsock(port uint32) (net.Listener, error)
	// Shell runs the debug shell on the serial console and waits for it.
	Shell() error
	// Reboot syncs and restarts the machine (the VM's end); it returns
	// only on failure, except in tests.
	Reboot() error
}

// Started is the outcome of Start.
type Started struct {
	Config   Config
	Listener net.Listener // VsockPort (the line protocol); nil without a vsock device
	// Containers listens on proto.VsockPort for the container protocol;
	// nil without a vsock device.
	Containers net.Listener
}

// agent is hull-agent after Start: it waits for a reason to power off.
type agent struct {
	sys     System
	console io.Writer
	stop    chan string // power-off requests, with the reason
	// server serves the container protocol on Started.Containers; nil:
	// that listener is not served (tests of the rest).
	server *Server
}

// InitVerb is hull-agent's first argument when it runs as a container's
// init half: the agent starts itself as {"/proc/self/exe", InitVerb} and
// cmd/hull-agent hands that to container.InitMain.
const InitVerb = "__init"

// VMAgentName is hull-agent's self-description in the container
// protocol's Hello.
const VMAgentName = "hull-agent vm"

// containerServer is the Server hull-agent runs on proto.VsockPort: its
// container processes are reaped by reaper (PID 1 reaps every child), a
// create's RootfsTag is mounted through m, and a shutdown request powers
// the VM off once answered. A container that exits does not end the VM:
// the host decides, with a shutdown request.
func (a *agent) containerServer(reaper container.Reaper, m Mounter) *Server {
	return &Server{
		Name:        VMAgentName,
		InitCommand: []string{"/proc/self/exe", InitVerb},
		Log:         a.logf,
		Reaper:      reaper,
		Mounter:     m,
		Restored:    restored, // restored_linux.go
		// config.json's network namespace paths are the host's (netconf.go).
		HostNetns: true,
		Shutdown: func() {
			a.requestPowerOff(fmt.Sprintf("shutdown request on vsock port %d", proto.VsockPort))
		},
		Go: a.goSafe,
	}
}

func newAgent(sys System, console io.Writer) *agent {
	return &agent{sys: sys, console: console, stop: make(chan string, 1)}
}

func (a *agent) logf(format string, args ...any) {
	fmt.Fprintf(a.console, "hull-agent: "+format+"\n", args...)
}

// Start brings the guest up (see the package doc for the steps) and prints
// ReadyLine. An error means a required step failed: ReadyLine was not
// printed and the caller should power off. Every other failure is one line
// on the console.
func Start(sys System, console io.Writer) (*Started, error) {
	return newAgent(sys, console).start()
}

func (a *agent) start() (*Started, error) {
	for _, m := range BaseMounts() {
		if err := a.sys.Mount(m); err != nil {
			if m.Required {
				return nil, fmt.Errorf("mount %s (%s): %w", m.Target, m.FSType, err)
			}
			a.logf("mount %s (%s): %v; going on without it", m.Target, m.FSType, err)
		}
	}
	cfg := Config{Hostname: DefaultHostname}
	if b, err := a.sys.ReadFile("/proc/cmdline"); err != nil {
		a.logf("reading the kernel command line: %v; using the defaults", err)
	} else {
		var problems []string
		cfg, problems = ParseCmdline(string(b))
		for _, p := range problems {
			a.logf("kernel command line: %s", p)
		}
	}
	if err := a.sys.SetHostname(cfg.Hostname); err != nil {
		a.logf("setting the hostname to %q: %v", cfg.Hostname, err)
	}
	if err := a.sys.LinkUp("lo"); err != nil {
		a.logf("bringing up lo: %v", err)
	}
	st := &Started{Config: cfg}
	ln, err := a.sys.ListenVsock(VsockPort)
	switch {
	case errors.Is(err, ErrNoVsock):
		a.logf("no vsock device (not available yet): not listening on vsock port %d", VsockPort)
	case err != nil:
		a.logf("listening on vsock port %d: %v", VsockPort, err)
	default:
		a.logf("listening on vsock port %d", VsockPort)
		st.Listener = ln
	}
	if !errors.Is(err, ErrNoVsock) {
		if ln, err := a.sys.ListenVsock(proto.VsockPort); err != nil {
			a.logf("listening on vsock port %d (containers): %v", proto.VsockPort, err)
		} else {
			a.logf("listening on vsock port %d (containers)", proto.VsockPort)
			st.Containers = ln
		}
	}
	if err := a.sys.WriteBootTimer(); err != nil {
		a.logf("boot timer: %v", err)
	}
	fmt.Fprintf(a.console, "%s (hostname %s%s)\n", ReadyLine, cfg.Hostname, a.uptime())
	return st, nil
}

// uptime returns ", up 1.23 s" from /proc/uptime, "" if unreadable.
func (a *agent) uptime() string {
	b, err := a.sys.ReadFile("/proc/uptime")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return ""
	}
	s, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(", up %.2f s", s)
}

// serve acts on st's configuration, then waits for a reason to power off:
// a request on the stop channel (control connection, the shell's end) or a
// signal. It returns only if sys.Reboot returns nil, which the real one
// never does.
func (a *agent) serve(st *Started, signals <-chan os.Signal) {
	if st.Config.Exit == ExitReady {
		if a.powerOff(ParamExit + "=" + string(ExitReady)) {
			return
		}
	}
	if st.Listener != nil {
		a.goSafe(func() { a.acceptLoop(st.Listener) })
	}
	if st.Containers != nil && a.server != nil {
		a.goSafe(func() {
			if err := a.server.Serve(st.Containers); err != nil {
				a.logf("vsock port %d: %v; no longer listening", proto.VsockPort, err)
			}
		})
	}
	if st.Config.Shell {
		a.goSafe(func() {
			err := a.sys.Shell()
			if err != nil {
				a.logf("debug shell: %v", err)
			}
			a.requestPowerOff("the debug shell ended")
		})
	}
	for {
		select {
		case reason := <-a.stop:
			if a.powerOff(reason) {
				return
			}
		case sig := <-signals:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR:
				if a.powerOff("signal " + sig.String()) {
					return
				}
			case syscall.SIGQUIT:
				a.logf("SIGQUIT: goroutines:\n%s", stacks(true))
			default:
				a.logf("ignoring signal %v", sig)
			}
		}
	}
}

// requestPowerOff asks serve to power off; a request while one is pending
// is dropped.
func (a *agent) requestPowerOff(reason string) {
	select {
	case a.stop <- reason:
	default:
	}
}

// powerOff reports whether the machine went down (in tests: whether Reboot
// returned nil). On failure the agent goes on serving.
func (a *agent) powerOff(reason string) bool {
	a.logf("powering off (%s)", reason)
	if err := a.sys.Reboot(); err != nil {
		a.logf("power off failed: %v; still running", err)
		return false
	}
	return true
}

// acceptLoop serves control connections until the listener fails.
func (a *agent) acceptLoop(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.logf("vsock port %d: accept: %v; no longer listening", VsockPort, err)
			}
			return
		}
		a.goSafe(func() {
			defer conn.Close()
			if err := serveControl(conn, a.requestPowerOff); err != nil {
				a.logf("control connection from %v: %v", conn.RemoteAddr(), err)
			}
		})
	}
}

// goSafe runs f in a goroutine that turns a panic into crash: PID 1 must
// not die (the kernel would panic), so the VM is rebooted instead.
func (a *agent) goSafe(f func()) {
	go func() {
		defer a.recoverCrash()
		f()
	}()
}

// recoverCrash is deferred by every agent goroutine.
func (a *agent) recoverCrash() {
	if v := recover(); v != nil {
		a.crash(v)
	}
}

var crashOnce sync.Once

// crash prints the panic and its stack and reboots; it never returns.
func (a *agent) crash(v any) {
	crashOnce.Do(func() {
		a.logf("panic: %v\n%s", v, stacks(false))
		if err := a.sys.Reboot(); err != nil {
			a.logf("reboot after the panic failed: %v", err)
		}
	})
	select {} // another goroutine is rebooting, or nothing more can be done
}

func stacks(all bool) []byte {
	buf := make([]byte, 64<<10)
	return buf[:runtime.Stack(buf, all)]
}
