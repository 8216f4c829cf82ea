package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/vmm/api"
)

// The vm sandbox (DESIGN.md §2): each container gets a microVM booted from
// the default guest image. Its host process is `hull __vm-sandbox`, the
// VMM: it boots the VM with a virtio-vsock device (hybrid socket
// <dir>/vsock.sock) and the bundle's rootfs as a virtio-9p share, has
// hull-agent create the container, relays the container's stdio over
// stream connections, forwards signals, and exits with the container's
// status. Other commands reach the agent through the same vsock socket
// ("CONNECT 1025").

// VMSandboxCommand is the hidden verb of the vm sandbox's host process.
const VMSandboxCommand = "__vm-sandbox"

// The vm sandbox's files and limits, shared with its host process
// (package vmsandbox).
const (
	VsockFile     = "vsock.sock"
	VMMSocketFile = "vmm.sock" // the VMM's control socket (package vmm/api)
	RootfsTag     = "rootfs"
	VMReportFD    = 3 // the VMM process reports the create's outcome here
	VMLogFD       = 4 // and logs here (<dir>/vm.log)
	BootTimeout   = 120 * time.Second
	maxSunPath    = 107
	AgentRetryMS  = 20
)

type vmSandbox struct {
	self    string
	log     *slog.Logger // create's timeline and the console's end on failure; nil: none
	logOpts LogOptions   // handed on to the VMM process (vmtimeline.go)
}

// VMSandbox returns the vm sandbox that re-executes self ("" for
// /proc/self/exe) as its host process.
func VMSandbox(self string) Sandbox {
	if self == "" {
		self = "/proc/self/exe"
	}
	return &vmSandbox{self: self}
}

func (v *vmSandbox) Name() string { return SandboxVM }

// VMReport is the VMM process's one message to hull create.
type VMReport struct {
	ContainerPid int    `json:"containerPid,omitempty"`
	Error        string `json:"error,omitempty"`
	// Phases is the timeline up to the container's creation (or the
	// failure), since create began (vmtimeline.go).
	Phases []VMPhase `json:"phases,omitempty"`
}

func (v *vmSandbox) Create(req *CreateRequest) (*Created, error) {
	if len(req.ExtraFiles) > 0 {
		return nil, fmt.Errorf("the vm sandbox cannot pass --preserve-fds descriptors into a VM")
	}
	// The VM's size and boot timeout are checked before anything starts.
	if _, err := VMLimitsOf(req.Spec); err != nil {
		return nil, err
	}
	// Bind mounts: their sources are checked here; the VMM process gets a
	// mount namespace of its own to bind them into its share (vmmounts.go).
	binds, err := hasHostBinds(req.Spec, req.Bundle)
	if err != nil {
		return nil, err
	}
	if p := filepath.Join(req.Dir, VsockFile); len(p) > maxSunPath {
		return nil, fmt.Errorf("the VM's vsock socket %s is longer than a Unix socket path may be (%d bytes): use a shorter --root", p, maxSunPath)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	logf, err := os.OpenFile(filepath.Join(req.Dir, "vm.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		wr.Close()
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(v.self, VMSandboxCommand, "--id", req.ID, "--dir", req.Dir, "--bundle", req.Bundle)
	cmd.Args = append(cmd.Args, v.vmmArgs(req)...)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Stdio[0], req.Stdio[1], req.Stdio[2]
	cmd.ExtraFiles = []*os.File{wr, logf} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if binds {
		// Go makes / private in it (MS_REC|MS_PRIVATE): nothing the VMM
		// mounts reaches the host's namespace.
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
		cmd.Args = append(cmd.Args, "--"+VMMountNSFlag)
	}
	var tty *hostTTY
	if req.Spec.Process.Terminal {
		if tty, err = vmTerminal(cmd, req.Spec.Process.ConsoleSize, logf); err != nil {
			wr.Close()
			return nil, err
		}
		defer tty.Close()
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the VMM: %w", err)
	}
	out := &Created{Process: cmd.Process}
	// The VMM writes one line, or dies (EOF): either way this returns.
	line, err := bufio.NewReader(io.LimitReader(rd, 64<<10)).ReadString('\n')
	var rep VMReport
	if jerr := json.Unmarshal([]byte(line), &rep); jerr != nil {
		return out, vmError(fmt.Errorf("the VMM exited before the container was created (%v)", firstErr(err, jerr)), req.Dir)
	}
	v.logPhases(req.ID, rep.Phases)
	if rep.Error != "" {
		return out, v.consoleError(errors.New(rep.Error), req.Dir)
	}
	out.ContainerPid = rep.ContainerPid
	if tty != nil {
		// The guest's terminal is attached and sized: the master may go.
		if err := sendConsole(req.ConsoleSocket, tty.master); err != nil {
			return out, err
		}
	}
	return out, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// vmError adds the last line of vm.log to err.
func vmError(err error, dir string) error {
	return withLastLine(err, filepath.Join(dir, "vm.log"), "vm.log")
}

func (v *vmSandbox) Dial(dir string) (net.Conn, error) {
	return dialVsock(dir, proto.VsockPort)
}

// dialVsock connects to a guest vsock port through the VMM's hybrid
// socket: "CONNECT <port>\n", answered "OK <hostport>\n".
func dialVsock(dir string, port uint32) (net.Conn, error) {
	c, err := dialIn(dir, VsockFile)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := fmt.Fprintf(c, "CONNECT %d\n", port); err != nil {
		c.Close()
		return nil, err
	}
	// Byte by byte: what follows the line is the agent's.
	var line []byte
	b := make([]byte, 1)
	for len(line) < 64 {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, fmt.Errorf("vsock port %d: no answer to CONNECT: %w", port, err)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	if !strings.HasPrefix(string(line), "OK ") {
		c.Close()
		return nil, fmt.Errorf("vsock port %d: CONNECT answered %q", port, line)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// AttachStreams connects a process's stdio (StdioStream) to in, out and
// errOut: one stream connection each. The returned function waits until
// the agent closed stdout and stderr, i.e. all output is delivered.
func AttachStreams(sb Sandbox, dir, id, exec string, in io.Reader, out, errOut io.Writer) (func(time.Duration) bool, error) {
	dial := func(stream string) (net.Conn, error) { return dialStream(sb, dir, id, exec, stream) }
	var conns []net.Conn
	fail := func(err error) (func(time.Duration) bool, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	done := make(chan struct{}, 2)
	for _, s := range []struct {
		name string
		w    io.Writer
	}{{"stdout", out}, {"stderr", errOut}} {
		c, err := dial(s.name)
		if err != nil {
			return fail(err)
		}
		conns = append(conns, c)
		go func(c net.Conn, w io.Writer) {
			// Read and write, no splice: splice(2) into a file does not
			// take the file position's lock, so stdout and stderr sharing
			// one open file (2>&1) could overwrite each other.
			copyPlain(w, c)
			c.Close()
			done <- struct{}{}
		}(c, s.w)
	}
	c, err := dial("stdin")
	if err != nil {
		return fail(err)
	}
	go func() {
		io.Copy(c, in)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			c.Close()
		}
	}()
	return func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		for i := 0; i < 2; i++ {
			select {
			case <-done:
			case <-t.C:
				return false
			}
		}
		c.Close()
		return true
	}, nil
}

// VMSize is the VM for a container: the annotations hull.vm.memory_mib and
// hull.vm.cpus, else linux.resources (memory limit plus the guest's own
// overhead; CPU quota/period rounded up), else the defaults.
func VMSize(s *specs.Spec) (memMiB, cpus int, err error) {
	memMiB, cpus = DefaultVMMemMiB, 1
	if r := resources(s); r != nil {
		if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
			memMiB = int((*r.Memory.Limit-1)>>20+1) + VMOverheadMiB // rounded up, without overflow
		}
		if r.CPU != nil && r.CPU.Quota != nil && *r.CPU.Quota > 0 && r.CPU.Period != nil && *r.CPU.Period > 0 {
			cpus = int((uint64(*r.CPU.Quota) + *r.CPU.Period - 1) / *r.CPU.Period)
		}
	}
	if v, ok := s.Annotations[AnnotationVMMemory]; ok {
		if memMiB, err = strconv.Atoi(v); err != nil || memMiB < 64 {
			return 0, 0, fmt.Errorf("%w: annotation %s=%q: want a number of MiB, at least 64", ErrBadConfig, AnnotationVMMemory, v)
		}
	}
	if v, ok := s.Annotations[AnnotationVMCPUs]; ok {
		if cpus, err = strconv.Atoi(v); err != nil || cpus < 1 {
			return 0, 0, fmt.Errorf("%w: annotation %s=%q: want a number of vCPUs, at least 1", ErrBadConfig, AnnotationVMCPUs, v)
		}
	}
	return memMiB, cpus, nil
}

func resources(s *specs.Spec) *specs.LinuxResources {
	if s.Linux == nil {
		return nil
	}
	return s.Linux.Resources
}

// VM sizing.
const (
	AnnotationVMMemory = "hull.vm.memory_mib"
	AnnotationVMCPUs   = "hull.vm.cpus"
	// AnnotationVMTemplate "false" boots the container's VM instead of
	// restoring it from a template (docs/snapshot.md).
	AnnotationVMTemplate = "hull.vm.template"
	DefaultVMMemMiB      = 256
	VMOverheadMiB        = 64 // guest kernel, agent and page cache beside the container's limit
)

// vmFreeze pauses or resumes the VM's vCPUs through the VMM's control
// socket.
func vmFreeze(dir string, pause bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := api.NewClient(filepath.Join(dir, VMMSocketFile))
	if pause {
		return c.Pause(ctx)
	}
	return c.Resume(ctx)
}
