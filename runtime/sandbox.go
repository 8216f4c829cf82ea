package runtime

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// Sandbox is where a container's agent runs. The runtime talks to that
// agent over the agent protocol (agent/proto) whatever the sandbox is; a
// Sandbox starts the host-side process, has the container created in it,
// and connects to the agent later.
type Sandbox interface {
	// Name is "process" or "vm".
	Name() string
	// Create starts the sandbox's host process for a container and has
	// the agent create the container. The process's pid is the
	// container's pid in state and --pid-file, and it exits with the
	// container's status. On error, Created (when not nil) names a
	// process the caller kills.
	Create(req *CreateRequest) (*Created, error)
	// Dial connects to the agent of a created sandbox.
	Dial(dir string) (net.Conn, error)
}

// CreateRequest is what a sandbox needs to create a container.
type CreateRequest struct {
	Dir, ID, Bundle string // state directory, container id, bundle (absolute)
	Spec            *specs.Spec
	Raw             []byte // config.json as given
	ConsoleSocket   string // with Spec.Process.Terminal
	Stdio           [3]*os.File
	ExtraFiles      []*os.File
	Created         time.Time // when create began: the zero of the vm sandbox's timeline
}

// Created is a sandbox with its container created.
type Created struct {
	Process      *os.Process
	ContainerPid int // as the agent sees it
}

// Sandbox names.
const (
	SandboxProcess = "process"
	SandboxVM      = "vm"
)

// AnnotationSandbox chooses the sandbox in config.json's annotations.
const AnnotationSandbox = "hull.sandbox"

// processSandbox runs the agent as a host process: `hull __agent` (the
// same agent code as in a guest), reached over a Unix socket in the
// container's state directory.
type processSandbox struct {
	// self is the hull binary that runs `__agent`.
	self string
}

func (p *processSandbox) Name() string { return SandboxProcess }

// AgentCommand is the hidden verb that runs the process sandbox's agent.
const AgentCommand = "__agent"

func (p *processSandbox) Create(req *CreateRequest) (*Created, error) {
	proc, err := p.launch(req.Dir, req.ID, req.Spec)
	if err != nil {
		return nil, err
	}
	out := &Created{Process: proc}
	c, err := p.Dial(req.Dir)
	if err != nil {
		return out, agentError(fmt.Errorf("connecting to the agent: %w", err), req.Dir)
	}
	cl, err := proto.NewClient(c)
	if err != nil {
		return out, agentError(fmt.Errorf("agent (pid %d): %w", proc.Pid, err), req.Dir)
	}
	defer cl.Close()
	terminal := req.Spec.Process.Terminal
	args := &proto.CreateArgs{ID: req.ID, Bundle: req.Bundle, Spec: req.Raw, Terminal: terminal,
		Annotations: req.Spec.Annotations, ExtraFDs: len(req.ExtraFiles), Stdio: proto.StdioFDs}
	var files []*os.File
	if !terminal {
		for i, f := range req.Stdio {
			if f == nil {
				return out, fmt.Errorf("stdio %d missing", i)
			}
			files = append(files, f)
		}
	}
	files = append(files, req.ExtraFiles...)
	var res proto.CreateResult
	fds, err := cl.Call(proto.OpCreate, args, &res, files...)
	if err != nil {
		return out, agentError(err, req.Dir)
	}
	defer closeFiles(fds)
	if terminal {
		if len(fds) != 1 {
			return out, fmt.Errorf("the agent returned %d descriptors for the terminal, want 1", len(fds))
		}
		if err := sendConsole(req.ConsoleSocket, fds[0]); err != nil {
			return out, err
		}
	}
	out.ContainerPid = res.Pid
	return out, nil
}

func (p *processSandbox) launch(dir, id string, spec *specs.Spec) (*os.Process, error) {
	l, err := listenIn(dir, sockFile)
	if err != nil {
		return nil, fmt.Errorf("agent socket: %w", err)
	}
	defer l.Close() // the agent has its own copy
	lf, err := l.File()
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(p.self, AgentCommand, "--id", id)
	if ownNamespace(spec, specs.PIDNamespace) && ownNamespace(spec, specs.MountNamespace) {
		cmd.Args = append(cmd.Args, "--mount-proc")
	}
	cmd.Dir = "/"
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{lf} // fd 3: the listening socket
	// Its own session: the caller's terminal and process group signals
	// are not the container's.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startInNamespaces(cmd, spec); err != nil {
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	return cmd.Process, nil
}

// startInNamespaces starts the process sandbox's agent in the container's
// namespaces (DESIGN.md §2: the agent is the sandbox's init, as in a
// VM): those config.json creates are created by the clone, those it names
// by path are joined first by the spawning thread, which is then thrown
// away (Go cannot give a thread back its namespaces). The agent's
// /proc/<pid>/ns is therefore the container's, which is what runtime-tools
// and anyone inspecting state.pid look at; the container's own process
// inherits them, with a mount namespace of its own for its root.
func startInNamespaces(cmd *exec.Cmd, spec *specs.Spec) error {
	var joins []nsJoin
	if spec.Linux != nil {
		for _, n := range spec.Linux.Namespaces {
			flag, ok := nsFlags[n.Type]
			if !ok {
				return fmt.Errorf("linux.namespaces: unknown type %q", n.Type)
			}
			if n.Path == "" {
				cmd.SysProcAttr.Cloneflags |= flag
				continue
			}
			if n.Type == specs.UserNamespace || n.Type == specs.TimeNamespace {
				return fmt.Errorf("linux.namespaces: joining a %s namespace by path is not supported", n.Type)
			}
			joins = append(joins, nsJoin{flag, n.Path})
		}
		if cmd.SysProcAttr.Cloneflags&syscall.CLONE_NEWUSER != 0 {
			for _, m := range spec.Linux.UIDMappings {
				cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings,
					syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
			}
			for _, m := range spec.Linux.GIDMappings {
				cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings,
					syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
			}
			cmd.SysProcAttr.GidMappingsEnableSetgroups = true
			// Root inside: a process that is not root in its user namespace
			// loses its capabilities at exec, and the agent needs them to
			// mount. (The container's own user comes from process.user.)
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		}
	}
	if len(joins) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's end takes the thread, with the
		// namespaces it joined, out of the process.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_FS): %w", err)
			return
		}
		for _, j := range joins {
			f, err := os.Open(j.path)
			if err != nil {
				errc <- fmt.Errorf("namespace %s: %w", j.path, err)
				return
			}
			err = unix.Setns(int(f.Fd()), int(j.flag))
			f.Close()
			if err != nil {
				errc <- fmt.Errorf("joining namespace %s: %w", j.path, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// ownNamespace reports whether the config asks for a new namespace of type t.
func ownNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, n := range spec.Linux.Namespaces {
		if n.Type == t && n.Path == "" {
			return true
		}
	}
	return false
}

type nsJoin struct {
	flag uintptr
	path string
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

func (p *processSandbox) Dial(dir string) (net.Conn, error) {
	return dialIn(dir, sockFile)
}

// listenIn and dialIn reach a socket through /proc/self/fd/N/NAME, so the
// path stays under sun_path's 108 bytes however long --root and the id are.
func listenIn(dir, name string) (*net.UnixListener, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), name), Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false) // the agent keeps listening after we close ours
	return l, nil
}

func dialIn(dir, name string) (net.Conn, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return net.DialTimeout("unix", fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), name), 5*time.Second)
}

// chooseSandbox applies the precedence: the command-line flag, then the
// config's annotation, then /etc/hull/config.json, then the default (vm).
// It never falls back from one to the other.
func chooseSandbox(flag string, spec *specs.Spec, configFile string) (string, error) {
	name, from := flag, "--sandbox"
	if name == "" && spec != nil {
		name, from = spec.Annotations[AnnotationSandbox], "annotation "+AnnotationSandbox
	}
	if name == "" {
		c, err := loadConfig(configFile)
		if err != nil {
			return "", err
		}
		name, from = c.Sandbox, configFile
	}
	if name == "" {
		name, from = SandboxVM, "the default"
	}
	switch strings.ToLower(name) {
	case SandboxProcess:
		return SandboxProcess, nil
	case SandboxVM:
		return SandboxVM, nil
	}
	return "", fmt.Errorf("unknown sandbox %q from %s (known: vm, process)", name, from)
}
