package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// members says which processes belong to a container: those in its own
// pid namespace when it created one, else those in its mount namespace
// (it always has one of its own; Exec'd processes join it), else only
// the init.
type members struct {
	kind string // "pid", "mnt" or "" (the init alone)
	id   nsID
}

func findMembers(pid int, ns nsPlan) members {
	self, init := "self", strconv.Itoa(pid)
	for _, k := range []struct {
		kind string
		own  bool
	}{
		{"pid", ns.created[specs.PIDNamespace]},
		{"mnt", ns.has[specs.MountNamespace]},
	} {
		if !k.own {
			continue
		}
		theirs, err1 := nsOf(init, k.kind)
		ours, err2 := nsOf(self, k.kind)
		if err1 == nil && err2 == nil && theirs != ours {
			return members{kind: k.kind, id: theirs}
		}
	}
	return members{}
}

// Pids lists the container's processes, as pids in the caller's pid
// namespace, sorted.
func (c *Container) Pids() ([]int, error) {
	if c.who.kind == "" {
		if c.init.exited() {
			return nil, nil
		}
		return []int{c.init.pid}, nil
	}
	var out []int
	err := c.walk(func(pid int, _ int) error {
		out = append(out, pid)
		return nil
	})
	sort.Ints(out)
	return out, err
}

// walk calls fn for every process that is a member, with a pidfd open
// on it (fn must not keep it; -1 on kernels without pidfds). A process
// that vanishes meanwhile is skipped.
func (c *Container) walk(fn func(pid, pidfd int) error) error {
	d, err := os.Open("/proc")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	_ = d.Close() // a directory read to the end
	if err != nil {
		return err
	}
	self := os.Getpid()
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == self {
			continue
		}
		// Open the pidfd before looking at the namespace: if the pid is
		// recycled in between, the check is about the new process and
		// the pidfd about the old, dead one, so nothing wrong is hit.
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil && !errors.Is(err, unix.ENOSYS) {
			continue // gone
		}
		if err != nil {
			pidfd = -1 // before Linux 5.3: by pid
		}
		id, err := nsOf(n, c.who.kind)
		if err == nil && id == c.who.id {
			err = fn(pid, pidfd)
		} else {
			err = nil
		}
		if pidfd >= 0 {
			_ = unix.Close(pidfd) // our own pidfd
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SignalAll sends sig to every process of the container (runc kill
// --all). Processes forked meanwhile are caught by further passes; it
// stops after a pass that finds nobody new.
func (c *Container) SignalAll(sig unix.Signal) error {
	if c.who.kind == "" {
		return c.Signal(sig)
	}
	sent := map[int]bool{}
	for pass := 0; pass < 16; pass++ {
		fresh := 0
		err := c.walk(func(pid, pidfd int) error {
			if sent[pid] {
				return nil
			}
			sent[pid] = true
			fresh++
			var err error
			if pidfd >= 0 {
				err = unix.PidfdSendSignal(pidfd, sig, nil, 0)
			} else {
				err = unix.Kill(pid, sig)
			}
			if err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("signal %v to %d: %w", sig, pid, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if fresh == 0 {
			break
		}
	}
	if len(sent) == 0 && c.init.exited() {
		return ErrExited
	}
	return nil
}

// pauseMethod is how Pause froze the container.
type pauseMethod int

const (
	notPaused pauseMethod = iota
	pausedCgroup
	pausedSignal
)

// Pause freezes every process of the container: with its cgroup v2
// freezer when the container has a cgroup of its own, else by sending
// SIGSTOP to each (which the processes' parents can observe).
func (c *Container) Pause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused != notPaused {
		return nil
	}
	if dir, ok := c.ownCgroup(); ok {
		if err := freeze(dir, true); err != nil {
			return err
		}
		c.paused = pausedCgroup
		return nil
	}
	if err := c.SignalAll(unix.SIGSTOP); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	c.paused = pausedSignal
	return nil
}

// Resume undoes Pause.
func (c *Container) Resume() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.paused {
	case pausedCgroup:
		dir, ok := c.ownCgroup()
		if !ok {
			return errors.New("resume: the container's cgroup is gone")
		}
		if err := freeze(dir, false); err != nil {
			return err
		}
	case pausedSignal:
		if err := c.SignalAll(unix.SIGCONT); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	c.paused = notPaused
	return nil
}

// ownCgroup returns the init's cgroup v2 directory when it is not the
// agent's own and has a freezer (cgroup.freeze).
func (c *Container) ownCgroup() (string, bool) {
	dir, ok := c.ownCgroupDir()
	if !ok {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err != nil {
		return "", false
	}
	return dir, true
}

// ownCgroupDir returns the init's cgroup v2 directory when it differs
// from the agent's.
func (c *Container) ownCgroupDir() (string, bool) {
	theirs, err1 := cgroupDir(strconv.Itoa(c.init.pid))
	ours, err2 := cgroupDir("self")
	if err1 != nil || err2 != nil || theirs == ours {
		return "", false
	}
	return theirs, true
}

// cgroupDir returns the directory of a process's cgroup v2 under the
// first cgroup2 mount.
func cgroupDir(pid string) (string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return "", err
	}
	var rel string
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = p, true
		}
	}
	if !found {
		return "", errors.New("no cgroup v2 membership")
	}
	mnt, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	return filepath.Join(mnt, rel), nil
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.fstype == "cgroup2" && m.root == "/" {
			return m.mountpoint, nil
		}
	}
	return "", unsupported("no cgroup v2 hierarchy mounted (cgroup v1)")
}

// freeze writes cgroup.freeze and waits until cgroup.events agrees
// (poll(2) reports each change of that file as POLLPRI).
func freeze(dir string, on bool) error {
	val, want := "0", "frozen 0"
	if on {
		val, want = "1", "frozen 1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(val), 0); err != nil {
		return err
	}
	ev, err := os.Open(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return err
	}
	defer ev.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := make([]byte, 4096)
		n, err := ev.ReadAt(b, 0)
		if n == 0 && err != nil {
			return err
		}
		sc := bufio.NewScanner(strings.NewReader(string(b[:n])))
		for sc.Scan() {
			if sc.Text() == want {
				return nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s: not %q after 10 s", filepath.Join(dir, "cgroup.events"), want)
		}
		fds := []unix.PollFd{{Fd: int32(ev.Fd()), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll", err)
		}
	}
}
