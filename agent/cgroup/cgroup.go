package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// DefaultRoot is where the unified hierarchy is mounted.
	DefaultRoot = "/sys/fs/cgroup"
	// DefaultTimeout bounds Freeze, Thaw and Kill.
	DefaultTimeout = 10 * time.Second
	// deleteRetry bounds how long Delete retries a busy cgroup (processes
	// that are exiting); runc retries for about a second too.
	deleteRetry = time.Second
)

// Cgroup is one container's cgroup. Its methods may be called from
// several goroutines, but the kernel files they write are shared state:
// callers should not, say, Freeze and Thaw at once.
type Cgroup struct {
	root    string // the hierarchy's mount point
	path    string // the cgroup's path in the hierarchy, "/hull/<id>"
	dir     string // root + path
	timeout time.Duration
	mkdir   func(dir string) error
	// unavailable: controllers New could not enable on the way down, and
	// why (reported by Apply when a resource needs one).
	unavailable map[string]error
}

// Option changes how New and Open find the hierarchy.
type Option func(*options)

type options struct {
	root     string
	timeout  time.Duration
	procSelf string // /proc/self/cgroup, for relative paths
	fsCheck  bool   // statfs the root: cgroup2 or ErrNoCgroup2
	// mkdir creates a cgroup directory; tests replace it to give new
	// directories the interface files the kernel would.
	mkdir func(dir string) error
}

// WithRoot uses the cgroup2 hierarchy mounted at dir instead of
// /sys/fs/cgroup (a hybrid host's /sys/fs/cgroup/unified, or a test's).
func WithRoot(dir string) Option { return func(o *options) { o.root = dir } }

// WithTimeout bounds Freeze, Thaw and Kill (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New resolves cgroupsPath (see Resolve), creates the cgroup and its
// missing parents, and enables in each parent's cgroup.subtree_control
// every controller that parent has, so that the cgroup gets all the
// controllers the hierarchy can delegate to it. A controller that cannot
// be enabled does not make New fail: Apply reports it, with the reason
// (such as ErrInternalProcesses), only if a resource needs it. New fails
// with ErrNoCgroup2 when the root is not a cgroup v2 mount.
func New(cgroupsPath string, opts ...Option) (*Cgroup, error) {
	c, err := open(cgroupsPath, opts)
	if err != nil {
		return nil, err
	}
	if err := c.create(); err != nil {
		return nil, err
	}
	return c, nil
}

// Open is New for a cgroup that must exist already (for pause, ps, kill,
// delete from another process); it creates nothing. Store Path() from New
// and pass it here: an absolute path does not depend on the caller's own
// cgroup.
func Open(cgroupsPath string, opts ...Option) (*Cgroup, error) {
	c, err := open(cgroupsPath, opts)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.dir); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	return c, nil
}

func open(cgroupsPath string, opts []Option) (*Cgroup, error) {
	o := options{
		root: DefaultRoot, timeout: DefaultTimeout, procSelf: "/proc/self/cgroup", fsCheck: true,
		mkdir: func(dir string) error { return os.Mkdir(dir, 0o755) },
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.fsCheck {
		if err := checkCgroup2(o.root); err != nil {
			return nil, err
		}
	}
	p, err := Resolve(cgroupsPath, func() (string, error) { return ownCgroup(o.procSelf) })
	if err != nil {
		return nil, err
	}
	return &Cgroup{
		root:        o.root,
		path:        p,
		dir:         filepath.Join(o.root, filepath.FromSlash(p)),
		timeout:     o.timeout,
		mkdir:       o.mkdir,
		unavailable: map[string]error{},
	}, nil
}

// checkCgroup2 fails with ErrNoCgroup2 unless root is a cgroup2 mount,
// saying whether the host looks like v1 or hybrid.
func checkCgroup2(root string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return fmt.Errorf("%w: statfs %s: %v", ErrNoCgroup2, root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	var un unix.Statfs_t
	if unix.Statfs(filepath.Join(root, "unified"), &un) == nil && un.Type == unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%w: %s is a hybrid (v1 + v2) hierarchy; boot with systemd.unified_cgroup_hierarchy=1 (WithRoot(%q) reaches its v2 part, without the controllers v1 holds)",
			ErrNoCgroup2, root, filepath.Join(root, "unified"))
	}
	return fmt.Errorf("%w: %s is not a cgroup2 mount (cgroup v1 host?)", ErrNoCgroup2, root)
}

// Path is the cgroup's path in the hierarchy ("/hull/<id>"): what to keep
// in the container's state and pass to Open later.
func (c *Cgroup) Path() string { return c.path }

// Dir is the cgroup's directory ("/sys/fs/cgroup/hull/<id>").
func (c *Cgroup) Dir() string { return c.dir }

// create makes the cgroup's directory and its missing parents, enabling
// controllers on the way down. Directories it created are removed again
// if it fails.
func (c *Cgroup) create() (err error) {
	var made []string
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				_ = unix.Rmdir(made[i]) // best effort: it was empty a moment ago
			}
		}
	}()
	cur := c.root
	for _, part := range strings.Split(strings.TrimPrefix(c.path, "/"), "/") {
		if err := c.enableControllers(cur); err != nil {
			return err
		}
		cur = filepath.Join(cur, part)
		if err := c.mkdir(cur); err == nil {
			made = append(made, cur)
		} else if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cgroup %s: %w", c.path, err)
		}
		if t, err := readFile(cur, "cgroup.type"); err == nil && t == "domain invalid" {
			return fmt.Errorf("%w: cgroup %s is \"domain invalid\" (a parent was made threaded); it cannot hold a container",
				ErrInvalidPath, c.rel(cur))
		}
	}
	return nil
}

// rel is a directory's path in the hierarchy.
func (c *Cgroup) rel(dir string) string {
	r, err := filepath.Rel(c.root, dir)
	if err != nil || r == "." {
		return "/"
	}
	return path.Join("/", filepath.ToSlash(r))
}

// enableControllers enables in dir's cgroup.subtree_control every
// controller listed in its cgroup.controllers, recording those that fail.
func (c *Cgroup) enableControllers(dir string) error {
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", c.rel(dir), err)
	}
	on, err := readFile(dir, "cgroup.subtree_control")
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", c.rel(dir), err)
	}
	enabled := strings.Fields(on)
	var missing []string
	for _, ctrl := range strings.Fields(avail) {
		if !slices.Contains(enabled, ctrl) {
			missing = append(missing, ctrl)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err = writeFile(dir, "cgroup.subtree_control", "+"+strings.Join(missing, " +"))
	if err == nil {
		return nil
	}
	failed := map[string]error{}
	if errors.Is(err, unix.EBUSY) {
		if pids, perr := readPids(dir); perr == nil && len(pids) > 0 {
			// dir holds processes: domain controllers are refused, and
			// enabling the threaded ones (cpu, cpuset, pids) alone would
			// turn dir into a threaded domain and its new child into
			// "domain invalid", unusable. Enable none.
			for _, ctrl := range missing {
				failed[ctrl] = err
			}
			c.recordFailures(dir, failed)
			return nil
		}
	}
	// One at a time, to find out which ones fail.
	for _, ctrl := range missing {
		if err := writeFile(dir, "cgroup.subtree_control", "+"+ctrl); err != nil {
			failed[ctrl] = err
		}
	}
	c.recordFailures(dir, failed)
	return nil
}

// recordFailures keeps, for Apply, why each controller could not be
// enabled in dir: EBUSY while dir holds processes is the "no internal
// processes" rule, reported as an InternalProcessesError.
func (c *Cgroup) recordFailures(dir string, failed map[string]error) {
	var busy []string
	for ctrl, err := range failed {
		if errors.Is(err, unix.EBUSY) {
			busy = append(busy, ctrl)
		}
	}
	slices.Sort(busy)
	var internal error
	if len(busy) > 0 {
		if pids, err := readPids(dir); err == nil && len(pids) > 0 {
			internal = &InternalProcessesError{Cgroup: c.rel(dir), Controllers: busy, Pids: pids}
		}
	}
	for ctrl, err := range failed {
		if internal != nil && errors.Is(err, unix.EBUSY) {
			c.unavailable[ctrl] = internal
			continue
		}
		c.unavailable[ctrl] = fmt.Errorf("enabling it in %s/cgroup.subtree_control: %w", c.rel(dir), err)
	}
}

// controllerError explains a missing interface file of controller ctrl.
func (c *Cgroup) controllerError(ctrl, file string, err error) error {
	reason := c.unavailable[ctrl]
	if reason == nil {
		avail, rerr := readFile(c.dir, "cgroup.controllers")
		if rerr == nil && slices.Contains(strings.Fields(avail), ctrl) {
			// The controller is there; the kernel lacks this file.
			return fmt.Errorf("cgroup %s: %s: %w", c.path, file, err)
		}
		reason = errors.New("not enabled in the parent's cgroup.subtree_control, or not built into the kernel")
	}
	return &ControllerError{Controller: ctrl, Cgroup: c.path, File: file, Reason: reason}
}

// AddProc moves process pid into the cgroup (all its threads).
func (c *Cgroup) AddProc(pid int) error {
	var err error
	for try := 0; try < 5; try++ {
		err = writeFile(c.dir, "cgroup.procs", strconv.Itoa(pid))
		if !errors.Is(err, unix.EINVAL) {
			break
		}
		// EINVAL: the task may still be in TASK_NEW (just forked).
		time.Sleep(20 * time.Millisecond)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EBUSY):
		sub, _ := readFile(c.dir, "cgroup.subtree_control")
		return fmt.Errorf("cgroup %s: adding pid %d: %w: it enables %q for child cgroups, so it cannot hold processes (%w)",
			c.path, pid, err, sub, ErrInternalProcesses)
	}
	return fmt.Errorf("cgroup %s: adding pid %d: %w", c.path, pid, err)
}

// Procs lists the processes in the cgroup and in its child cgroups, sorted.
func (c *Cgroup) Procs() ([]int, error) {
	var pids []int
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != c.dir && errors.Is(err, fs.ErrNotExist) {
				return nil // a child cgroup removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		ps, err := readPids(p)
		if err != nil {
			if p != c.dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		pids = append(pids, ps...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// Delete removes the cgroup and any child cgroups. rmdir fails with EBUSY
// while processes remain; Delete retries for about a second (processes
// that are exiting), so Kill first. Deleting a cgroup that does not exist
// succeeds. Parents are left alone (other containers may use them).
func (c *Cgroup) Delete() error {
	if err := removeTree(c.dir, time.Now().Add(deleteRetry)); err != nil {
		return fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	return nil
}

func removeTree(dir string, deadline time.Time) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || err == unix.ENOENT:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EBUSY && time.Now().Before(deadline):
			time.Sleep(delay)
			delay = min(2*delay, 100*time.Millisecond)
			continue
		}
		if err == unix.EBUSY {
			if pids, perr := readPids(dir); perr == nil && len(pids) > 0 {
				return fmt.Errorf("rmdir %s: %w: processes %v are still in it", dir, err, pids)
			}
		}
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
}
