package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Freeze stops every process in the cgroup (and its child cgroups) with
// cgroup.freeze and waits until cgroup.events reports "frozen 1". If that
// does not happen within the timeout the cgroup is thawed again and the
// error wraps ErrTimeout. Linux before 5.2 has no cgroup.freeze: the error
// then wraps errors.ErrUnsupported.
func (c *Cgroup) Freeze() error {
	if err := c.setFreeze(true); err != nil {
		return err
	}
	if err := c.waitEvent("frozen", "1", c.timeout); err != nil {
		_ = writeFile(c.dir, "cgroup.freeze", "0") // best effort: do not leave it half frozen
		return err
	}
	return nil
}

// Thaw undoes Freeze and waits until cgroup.events reports "frozen 0".
func (c *Cgroup) Thaw() error {
	if err := c.setFreeze(false); err != nil {
		return err
	}
	return c.waitEvent("frozen", "0", c.timeout)
}

// Frozen reports whether cgroup.events says the cgroup is frozen (what
// `state` shows as "paused").
func (c *Cgroup) Frozen() (bool, error) {
	ev, err := readKeyed(c.dir, "cgroup.events")
	if err != nil {
		return false, fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	return ev["frozen"] == "1", nil
}

func (c *Cgroup) setFreeze(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	err := writeFile(c.dir, "cgroup.freeze", v)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(c.dir); serr == nil {
			return fmt.Errorf("cgroup %s: no cgroup.freeze (Linux 5.2 or later needed): %w", c.path, errors.ErrUnsupported)
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: writing cgroup.freeze: %w", c.path, err)
	}
	return nil
}

// Kill sends SIGKILL to every process in the cgroup and its children and
// waits, up to the timeout, until cgroup.events reports "populated 0".
// It uses cgroup.kill (Linux 5.14), which also catches processes forking
// meanwhile; without it, it freezes the cgroup, signals each process,
// thaws and repeats until the cgroup is empty.
func (c *Cgroup) Kill() error {
	if _, err := os.Stat(c.dir); err != nil {
		return fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	err := writeFile(c.dir, "cgroup.kill", "1")
	switch {
	case err == nil:
		return c.waitEvent("populated", "0", c.timeout)
	case errors.Is(err, fs.ErrNotExist):
		return c.killEach()
	}
	return fmt.Errorf("cgroup %s: writing cgroup.kill: %w", c.path, err)
}

func (c *Cgroup) killEach() error {
	deadline := time.Now().Add(c.timeout)
	for {
		pids, err := c.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: cgroup %s: processes %v survived SIGKILL for %v", ErrTimeout, c.path, pids, c.timeout)
		}
		// Frozen, the processes cannot fork between listing and killing;
		// SIGKILL ends frozen tasks too. Best effort: old kernels have no
		// freezer either.
		frozen := writeFile(c.dir, "cgroup.freeze", "1") == nil
		for _, pid := range pids {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
				return fmt.Errorf("cgroup %s: kill %d: %w", c.path, pid, err)
			}
		}
		if frozen {
			_ = writeFile(c.dir, "cgroup.freeze", "0") // they are dying anyway
		}
		err = c.waitEvent("populated", "0", 100*time.Millisecond)
		if err != nil && !errors.Is(err, ErrTimeout) {
			return err
		}
	}
}

// maxPoll bounds one wait for an inotify event, so that a missed
// notification (a kernel that does not send them for this file) costs at
// most this long.
const maxPoll = 100 * time.Millisecond

// waitEvent waits until the key of cgroup.events has the value want,
// woken by inotify (the kernel notifies modifications of cgroup.events),
// for at most timeout.
func (c *Cgroup) waitEvent(key, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	file := filepath.Join(c.dir, "cgroup.events")
	ifd := watch(file)
	if ifd >= 0 {
		defer func() { _ = unix.Close(ifd) }() // read-only watch: nothing to flush
	}
	buf := make([]byte, 4096)
	for {
		ev, err := readKeyed(c.dir, "cgroup.events")
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", c.path, err)
		}
		if ev[key] == want {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w: cgroup %s: cgroup.events still has %q, not %q, after %v", ErrTimeout, c.path, key+" "+ev[key], key+" "+want, timeout)
		}
		wait := min(left, maxPoll)
		if ifd < 0 {
			time.Sleep(min(wait, 10*time.Millisecond))
			continue
		}
		fds := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(wait.Milliseconds())+1); err != nil && err != unix.EINTR {
			return fmt.Errorf("cgroup %s: poll: %w", c.path, err)
		}
		for { // drain; the content of the events does not matter
			if n, err := unix.Read(ifd, buf); n <= 0 || err != nil {
				break
			}
		}
	}
}

// watch returns an inotify descriptor watching file for modifications, or
// -1 when inotify is not available (waitEvent then sleeps briefly).
func watch(file string) int {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return -1
	}
	if _, err := unix.InotifyAddWatch(ifd, file, unix.IN_MODIFY); err != nil {
		_ = unix.Close(ifd) // never used
		return -1
	}
	return ifd
}
