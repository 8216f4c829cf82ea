// Package container creates Linux containers from a runtime-spec config,
// runc-style, for hull's agent: inside a microVM (the agent is PID 1) and
// on the host (the process sandbox). It does what runc's libcontainer
// does for one container, minus cgroups (agent/cgroup), the seccomp
// compiler (agent/seccomp, plugged in through Seccomp) and the CLI.
//
// The parent (the agent) re-executes a program in "init" mode in new
// namespaces; that init half sets the container up, reports ready, waits
// for Start and execs the container's process, which keeps its pid:
//
//	func main() {
//		if container.IsInit() {
//			container.Seccomp = seccomp.Load // optional
//			container.InitMain()              // never returns
//		}
//		c, err := container.Create(container.Options{
//			ID: "c1", Bundle: bundle, Spec: spec,
//			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
//			InitCommand: []string{"/proc/self/exe", "init"},
//			CreateRuntime: func(pid int) error { return runHooks(prestart, createRuntime, pid) },
//		})
//		...
//		err = c.Start()  // `exec: "foo": executable file not found in $PATH`, or nil
//		ws, err := c.Wait()
//	}
//
// # API
//
//	func Create(o Options) (*Container, error)
//	func (c *Container) Pid() int
//	func (c *Container) Start() error
//	func (c *Container) Wait() (unix.WaitStatus, error)
//	func (c *Container) Signal(sig unix.Signal) error
//	func (c *Container) SignalAll(sig unix.Signal) error
//	func (c *Container) Pids() ([]int, error)
//	func (c *Container) Pause() error
//	func (c *Container) Resume() error
//	func (c *Container) Exec(p *specs.Process, stdin, stdout, stderr *os.File, terminal bool) (*Process, error)
//	func (p *Process) Wait() (unix.WaitStatus, error)
//	func (p *Process) Signal(sig unix.Signal) error
//	func IsInit() bool
//	func InitMain()
//	var Seccomp func(*specs.LinuxSeccomp) error
//
// # What Create does, in order
//
// In the parent: validate the config (refusing what is unsupported, by
// name), open the namespaces given by path, and from a goroutine locked
// to its OS thread join the pid/net/ipc/uts/cgroup ones (setns) and
// clone the init with the rest as CLONE_NEW* flags, with uid/gid maps
// for a new user namespace, setsid (+TIOCSCTTY with Terminal), in
// Options.Cgroup. That thread lives until the child is reaped: the
// init's parent-death signal (SIGKILL, set by InitMain) follows the
// thread that forked it, not the process.
//
// In the init, on one locked thread that also does the final exec: join
// a mount namespace given by path (unshare(CLONE_FS) first),
// oom_score_adj, / made rslave (or linux.rootfsPropagation), the bundle's
// root bind-mounted on itself (a live view of it), every mount with
// destinations resolved inside the root (openat2 RESOLVE_IN_ROOT; mounts
// target /proc/self/fd/N), a default /dev (tmpfs, devpts, shm, when the
// config mounts none there), device nodes (mknod, bind mounts in a user
// namespace), /dev symlinks and /dev/ptmx, /dev/console for a terminal,
// the cwd; then the createRuntime point (Options.CreateRuntime in the
// parent), createContainer hooks, pivot_root (MS_MOVE + chroot from an
// initramfs), read-only /dev and root, hostname, domainname, sysctls,
// readonlyPaths, maskedPaths, personality, no_new_privileges, seccomp
// (here without no_new_privileges, as it needs CAP_SYS_ADMIN), rlimits,
// I/O priority, the bounding set, groups/gid/uid (per-thread system
// calls), cwd, the capability sets and ambient set, the umask. Then
// "ready". At Start: startContainer hooks, process.args[0] looked up in
// the container's PATH, seccomp with no_new_privileges, every fd above
// the preserved ones close-on-exec, execve. The parent reads EOF on the
// sync socket when the exec succeeded.
//
// Exec starts the same program in "exec" mode, joined to the init's
// namespaces and cgroup; it joins the mount namespace, chroots to the
// init's root (/proc/<pid>/root) and applies the process the same way.
//
// Pids, SignalAll, Pause and Resume find the container's processes by
// walking /proc: those in its pid namespace when it made one, else those
// in its mount namespace. Pause uses the cgroup v2 freezer when the
// container has a cgroup of its own, else SIGSTOP/SIGCONT.
//
// # User namespaces
//
// A new user namespace works with linux.uidMappings and gidMappings (the
// parent writes them; the init becomes the namespace's root before it
// execs). Device nodes are then bind mounts of the agent's, sysfs and
// mqueue fall back to bind mounts where the kernel refuses them, and the
// root file system must be reachable and owned by a mapped user, as with
// runc.
//
// # Not supported
//
// Create or Exec fails with an error wrapping ErrUnsupported that names
// the feature for: joining a user or time namespace by path, and Exec
// into a container with a user or time namespace of its own (setns into
// those needs a single-threaded process, which a Go program never is;
// runc does it in C before the Go runtime starts); linux.timeOffsets,
// linux.netDevices, linux.memoryPolicy, process.scheduler,
// process.execCPUAffinity, personality flags, idmapped mounts, the
// tmpcopyup option, and cgroup mounts on a host without cgroup v2.
// AppArmor and SELinux settings are ignored with a debug note, and
// linux.seccomp too when Seccomp is nil.
//
// # Reaping
//
// The package waits for its children with wait4(pid) unless
// Options.Reaper is set: a process that reaps every child (PID 1 in the
// guest) must hand the statuses over through it.
//
// The package has no unsafe code: capset, openat2, mount_setattr and
// pidfd_send_signal go through golang.org/x/sys/unix's typed wrappers.
package container
