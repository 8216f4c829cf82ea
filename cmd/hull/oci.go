package main

// The OCI runtime verbs, runc-compatible: containerd's runc shim, Docker
// and runtime-tools call hull exactly as they call runc.

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/runtime"
)

// globals are the flags before the verb, as runc takes them.
var globals struct {
	root      string
	log       string
	logFormat string
	sandbox   string
	debug     bool
}

func init() {
	for _, c := range []command{
		{name: "create", summary: "create a container from an OCI bundle (runc-compatible)", run: createCmd},
		{name: "start", summary: "start a created container's process", run: startCmd},
		{name: "run", summary: "create and start a container, wait for it, delete it", run: runCmd},
		{name: "state", summary: "print a container's state as JSON", run: stateCmd},
		{name: "kill", summary: "send a signal to a container's process", run: killCmd},
		{name: "delete", summary: "delete a stopped container (--force: any)", run: deleteCmd},
		{name: "exec", summary: "run another process in a running container", run: execCmd},
		{name: "ps", summary: "list a container's processes", run: psCmd},
		{name: "list", summary: "list containers", run: listCmd},
		{name: "pause", summary: "freeze every process of a container", run: pauseCmd},
		{name: "resume", summary: "thaw a paused container", run: resumeCmd},
		{name: "events", summary: "print a container's events and stats", run: eventsCmd},
		{name: "spec", summary: "write a default config.json", run: specCmd},
		{name: "features", summary: "print what this runtime supports (runtime-spec features)", run: featuresCmd},
	} {
		register(c)
	}
}

// parseGlobals consumes runc's global flags before the verb.
func parseGlobals(args []string) ([]string, error) {
	globals.root = runtime.DefaultRoot
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		a := args[0]
		if a == "--" {
			return args[1:], nil
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		take := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if len(args) < 2 {
				return "", fmt.Errorf("flag %s needs a value", a)
			}
			args = args[1:]
			return args[0], nil
		}
		var err error
		switch name {
		case "root":
			globals.root, err = take()
		case "log":
			globals.log, err = take()
		case "log-format":
			globals.logFormat, err = take()
		case "sandbox":
			globals.sandbox, err = take()
		case "criu":
			_, err = take() // accepted for runc compatibility; hull does not use CRIU
		case "debug":
			globals.debug = true
		case "systemd-cgroup", "rootless", "no-pivot", "no-new-keyring":
			// accepted (runc compatibility); cgroup paths are taken as given
			if hasVal && name == "rootless" {
				break
			}
		case "h", "help", "version", "v":
			return args, nil
		default:
			return nil, fmt.Errorf("unknown global flag %s", a)
		}
		if err != nil {
			return nil, err
		}
		args = args[1:]
	}
	return args, nil
}

func newRuntime() *runtime.Runtime {
	return &runtime.Runtime{Root: globals.root, Log: logger(), LogOptions: logOptions()}
}

func logOptions() runtime.LogOptions {
	return runtime.LogOptions{File: globals.log, Format: globals.logFormat, Debug: globals.debug}
}

// logger writes to --log in --log-format (text or json), where containerd
// reads the last error; without --log, warnings go to stderr.
func logger() *slog.Logger { return logOptions().Logger() }

// ociFail reports an error as runc does: one line on stderr, and the same
// at level error in --log (containerd shows that line to its user).
func ociFail(verb string, err error) int {
	if globals.log != "" {
		logger().Error(err.Error())
	}
	return fail(exitError, "%s: %v", verb, err)
}

// ociFlags is a FlagSet with runc's usage line.
func ociFlags(verb, usageLine, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hull [global flags] %s %s\n\n%s\n\nflags:\n", verb, usageLine, about)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nglobal flags: --root DIR (default %s), --log FILE, --log-format text|json, --sandbox vm|process, --debug, --systemd-cgroup (accepted)\n", runtime.DefaultRoot)
	}
	return fs
}

// oneID returns the single container id argument.
func oneID(fs *flag.FlagSet) (string, error) {
	if fs.NArg() < 1 {
		return "", fmt.Errorf("container id required")
	}
	if fs.NArg() > 1 {
		return "", fmt.Errorf("unexpected argument %q after the container id", fs.Arg(1))
	}
	return fs.Arg(0), nil
}

type createFlags struct {
	bundle, pidFile, consoleSocket, sandbox string
	preserveFDs                             int
}

func (c *createFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.bundle, "bundle", ".", "the bundle directory (holds config.json)")
	fs.StringVar(&c.bundle, "b", ".", "short for --bundle")
	fs.StringVar(&c.pidFile, "pid-file", "", "write the container's pid here")
	fs.StringVar(&c.consoleSocket, "console-socket", "", "Unix socket that receives the terminal's master (process.terminal)")
	fs.IntVar(&c.preserveFDs, "preserve-fds", 0, "pass this many descriptors after stderr (3, 4, ...) to the container")
	fs.StringVar(&c.sandbox, "sandbox", "", "vm (default) or process; also annotation hull.sandbox, /etc/hull/config.json")
	fs.Bool("no-pivot", false, "accepted for runc compatibility")
	fs.Bool("no-new-keyring", false, "accepted for runc compatibility")
}

func (c *createFlags) options() (runtime.CreateOptions, error) {
	o := runtime.CreateOptions{Bundle: c.bundle, PidFile: c.pidFile, ConsoleSocket: c.consoleSocket,
		Sandbox: c.sandbox, Stdio: [3]*os.File{os.Stdin, os.Stdout, os.Stderr}}
	if o.Sandbox == "" {
		o.Sandbox = globals.sandbox
	}
	if c.preserveFDs < 0 || c.preserveFDs > proto.MaxFDs-3 {
		return o, fmt.Errorf("--preserve-fds %d: at most %d", c.preserveFDs, proto.MaxFDs-3)
	}
	for i := 0; i < c.preserveFDs; i++ {
		fd := 3 + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return o, fmt.Errorf("--preserve-fds: descriptor %d is not open", fd)
		}
		o.ExtraFiles = append(o.ExtraFiles, os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd)))
	}
	return o, nil
}

func createCmd(args []string) int {
	fs := ociFlags("create", "[flags] <container-id>", "Creates a container from the bundle: its sandbox starts and its process waits for `hull start`.")
	var cf createFlags
	cf.register(fs)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail("create", err)
	}
	o, err := cf.options()
	if err != nil {
		return ociFail("create", err)
	}
	if err := newRuntime().Create(id, o); err != nil {
		return ociFail("create", err)
	}
	return 0
}

func startCmd(args []string) int {
	fs := ociFlags("start", "<container-id>", "Starts a created container's process.")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail("start", err)
	}
	if err := newRuntime().Start(id); err != nil {
		return ociFail("start", err)
	}
	return 0
}

func stateCmd(args []string) int {
	fs := ociFlags("state", "<container-id>", "Prints the container's state (runtime-spec state JSON).")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail("state", err)
	}
	rec, err := newRuntime().State(id)
	if err != nil {
		return ociFail("state", err)
	}
	st := rec.State
	if st.Status == specs.StateStopped {
		st.Pid = 0
	}
	b, _ := json.MarshalIndent(&st, "", "  ")
	fmt.Println(string(b))
	return 0
}

// parseSignal takes a signal by number or name (KILL, SIGKILL, kill).
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func killCmd(args []string) int {
	fs := ociFlags("kill", "[--all] <container-id> [signal]", "Sends a signal (default SIGTERM; by name or number) to the container's process.")
	all := fs.Bool("all", false, "signal every process of the container")
	fs.BoolVar(all, "a", false, "short for --all")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return ociFail("kill", fmt.Errorf("usage: kill <container-id> [signal]"))
	}
	sig := unix.SIGTERM
	if fs.NArg() == 2 {
		var err error
		if sig, err = parseSignal(fs.Arg(1)); err != nil {
			return ociFail("kill", err)
		}
	}
	if err := newRuntime().Kill(fs.Arg(0), sig, *all); err != nil {
		return ociFail("kill", err)
	}
	return 0
}

func deleteCmd(args []string) int {
	fs := ociFlags("delete", "[--force] <container-id>", "Deletes a stopped (or created) container; --force kills a running one first.")
	force := fs.Bool("force", false, "kill the container if it is running")
	fs.BoolVar(force, "f", false, "short for --force")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail("delete", err)
	}
	if err := newRuntime().Delete(id, *force); err != nil {
		return ociFail("delete", err)
	}
	return 0
}

func runCmd(args []string) int {
	fs := ociFlags("run", "[flags] <container-id>", "Creates and starts a container; without --detach waits for it, deletes it and exits with its status.")
	var cf createFlags
	cf.register(fs)
	detach := fs.Bool("detach", false, "return after start")
	fs.BoolVar(detach, "d", false, "short for --detach")
	keep := fs.Bool("keep", false, "do not delete the container after it exits")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail("run", err)
	}
	o, err := cf.options()
	if err != nil {
		return ociFail("run", err)
	}
	rt := newRuntime()
	if err := rt.Create(id, o); err != nil {
		return ociFail("run", err)
	}
	if *detach {
		if err := rt.Start(id); err != nil {
			rt.Delete(id, true)
			return ociFail("run", err)
		}
		return 0
	}
	// Forward the signals we get to the container, as runc run does.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			if sig, ok := proto.Forwarded(s); ok {
				rt.Signal(id, sig)
			}
		}
	}()
	wait, err := rt.StartAndWait(id)
	if err != nil {
		rt.Delete(id, true)
		return ociFail("run", err)
	}
	w, err := wait()
	if err != nil {
		// The agent went away without answering: the sandbox process's exit is the answer.
		w = proto.WaitResult{Status: 255}
		fmt.Fprintf(os.Stderr, "hull: run: waiting for %s: %v\n", id, err)
	}
	if !*keep {
		// The sandbox may take a moment to exit after answering.
		for i := 0; i < 200; i++ {
			if rec, err := rt.State(id); err != nil || rec.Status == specs.StateStopped {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := rt.Delete(id, true); err != nil {
			fmt.Fprintf(os.Stderr, "hull: run: deleting %s: %v\n", id, err)
		}
	}
	return w.Status
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func execCmd(args []string) int {
	fs := ociFlags("exec", "[flags] <container-id> <command> [args...]", "Runs another process in a running container; exits with its status unless --detach.")
	consoleSocket := fs.String("console-socket", "", "Unix socket that receives the terminal's master (with --tty)")
	cwd := fs.String("cwd", "", "working directory in the container")
	var env, caps stringList
	fs.Var(&env, "env", "set an environment variable (repeatable)")
	fs.Var(&env, "e", "short for --env")
	fs.Var(&caps, "cap", "add a capability (repeatable)")
	fs.Var(&caps, "c", "short for --cap")
	tty := fs.Bool("tty", false, "allocate a terminal")
	fs.BoolVar(tty, "t", false, "short for --tty")
	user := fs.String("user", "", "uid[:gid]")
	fs.StringVar(user, "u", "", "short for --user")
	var addGids stringList
	fs.Var(&addGids, "additional-gids", "an additional group id (repeatable)")
	fs.Var(&addGids, "g", "short for --additional-gids")
	procFile := fs.String("process", "", "a process.json (runtime-spec process) instead of the arguments")
	fs.StringVar(procFile, "p", "", "short for --process")
	detach := fs.Bool("detach", false, "return once the process started")
	fs.BoolVar(detach, "d", false, "short for --detach")
	pidFile := fs.String("pid-file", "", "write the process's pid here (vm sandbox: the host process relaying its stdio, which exits with its status)")
	noNewPrivs := fs.Bool("no-new-privs", false, "set no_new_privileges")
	preserve := fs.Int("preserve-fds", 0, "pass this many descriptors after stderr")
	fs.String("process-label", "", "accepted for runc compatibility")
	fs.String("apparmor", "", "accepted for runc compatibility")
	fs.Bool("ignore-paused", false, "accepted for runc compatibility")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() < 1 {
		return ociFail("exec", fmt.Errorf("container id required"))
	}
	id := fs.Arg(0)
	rt := newRuntime()
	base, err := rt.Spec(id)
	if err != nil {
		return ociFail("exec", err)
	}
	p, err := execProcess(base, *procFile, fs.Args()[1:])
	if err != nil {
		return ociFail("exec", err)
	}
	if *tty {
		p.Terminal = true
	}
	if *cwd != "" {
		p.Cwd = *cwd
	}
	p.Env = append(p.Env, env...)
	if *noNewPrivs {
		p.NoNewPrivileges = true
	}
	if *user != "" {
		u, g, hasG := strings.Cut(*user, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return ociFail("exec", fmt.Errorf("--user %q: want uid[:gid]", *user))
		}
		p.User.UID = uint32(uid)
		if hasG {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return ociFail("exec", fmt.Errorf("--user %q: want uid[:gid]", *user))
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, g := range addGids {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return ociFail("exec", fmt.Errorf("--additional-gids %q: not a number", g))
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		for _, c := range caps {
			c = strings.ToUpper(c)
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, c)
			p.Capabilities.Effective = append(p.Capabilities.Effective, c)
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, c)
		}
	}
	o := runtime.ExecOptions{ConsoleSocket: *consoleSocket, PidFile: *pidFile, Detach: *detach,
		Stdio: [3]*os.File{os.Stdin, os.Stdout, os.Stderr}}
	for i := 0; i < *preserve; i++ {
		o.ExtraFiles = append(o.ExtraFiles, os.NewFile(uintptr(3+i), fmt.Sprintf("fd%d", 3+i)))
	}
	w, err := rt.Exec(id, p, o)
	if err != nil {
		return ociFail("exec", err)
	}
	return w.Status
}

// execProcess is the process to exec: process.json, or the container's
// own process (env, cwd, user, capabilities) with args replaced.
func execProcess(s *specs.Spec, procFile string, args []string) (*specs.Process, error) {
	if procFile != "" {
		b, err := os.ReadFile(procFile)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", procFile, err)
		}
		return &p, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("no command to run (give one after the container id, or --process)")
	}
	if s.Process == nil {
		return nil, fmt.Errorf("the container's config.json has no process")
	}
	p := *s.Process
	p.Args = args
	p.Terminal = false
	p.ConsoleSize = nil
	return &p, nil
}

func psCmd(args []string) int {
	fs := ociFlags("ps", "[--format table|json] <container-id>", "Lists the container's processes.")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "short for --format")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() < 1 {
		return ociFail("ps", fmt.Errorf("container id required"))
	}
	pids, err := newRuntime().Ps(fs.Arg(0))
	if err != nil {
		return ociFail("ps", err)
	}
	if pids == nil {
		pids = []int{}
	}
	switch *format {
	case "json":
		b, _ := json.Marshal(pids)
		fmt.Println(string(b))
	case "table":
		fmt.Println("PID   CMD")
		for _, p := range pids {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			fmt.Printf("%-5d %s\n", p, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
	default:
		return ociFail("ps", fmt.Errorf("--format %q: want table or json", *format))
	}
	return 0
}

func listCmd(args []string) int {
	fs := ociFlags("list", "[--format table|json] [--quiet]", "Lists the containers under --root.")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "short for --format")
	quiet := fs.Bool("quiet", false, "print only the ids")
	fs.BoolVar(quiet, "q", false, "short for --quiet")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	recs, err := newRuntime().List()
	if err != nil {
		return ociFail("list", err)
	}
	switch {
	case *quiet:
		for _, r := range recs {
			fmt.Println(r.ID)
		}
	case *format == "json":
		type item struct {
			OCIVersion  string            `json:"ociVersion"`
			ID          string            `json:"id"`
			Pid         int               `json:"pid"`
			Status      string            `json:"status"`
			Bundle      string            `json:"bundle"`
			Rootfs      string            `json:"rootfs"`
			Created     time.Time         `json:"created"`
			Annotations map[string]string `json:"annotations,omitempty"`
			Sandbox     string            `json:"sandbox"`
		}
		out := []item{}
		for _, r := range recs {
			out = append(out, item{r.Version, r.ID, r.Pid, string(r.Status), r.Bundle, "", r.Created, r.Annotations, r.Sandbox})
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	case *format == "table":
		tw := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tSANDBOX")
		for _, r := range recs {
			pid := r.Pid
			if r.Status == specs.StateStopped {
				pid = 0
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, pid, r.Status, r.Bundle, r.Created.Format(time.RFC3339Nano), r.Sandbox)
		}
		tw.Flush()
	default:
		return ociFail("list", fmt.Errorf("--format %q: want table or json", *format))
	}
	return 0
}

func pauseCmd(args []string) int {
	return idVerb("pause", "Freezes every process of the container.", args, newRuntime().Pause)
}
func resumeCmd(args []string) int {
	return idVerb("resume", "Thaws a paused container.", args, newRuntime().Resume)
}

func idVerb(verb, about string, args []string, do func(string) error) int {
	fs := ociFlags(verb, "<container-id>", about)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail(verb, err)
	}
	if err := do(id); err != nil {
		return ociFail(verb, err)
	}
	return 0
}
