package container

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/hooks"
)

// prepareRootfs builds the container's file system view in its mount
// namespace (runc's prepareRootfs): the bind-mounted root, the config's
// mounts, /dev, then the createRuntime point in the parent and the
// createContainer hooks, then pivot_root.
func (in *initProc) prepareRootfs(lx *specs.Linux) error {
	cfg := in.cfg
	rootfs := cfg.Rootfs
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if lx.RootfsPropagation != "" {
		prop, _ = parsePropagation(lx.RootfsPropagation) // checked by Create
	}
	// Nothing done below may propagate back to the agent's namespace.
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set the propagation of / (%#x): %w", prop, err)
	}
	if err := makeParentPrivate(rootfs); err != nil {
		return err
	}
	// The root is a bind mount of the bundle's directory: a live view of
	// it (the container's writes land there), and a mount point, which
	// pivot_root needs.
	if err := unix.Mount(rootfs, rootfs, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount the root %s: %w", rootfs, err)
	}
	r, err := openRootDir(rootfs)
	if err != nil {
		return err
	}
	defer r.close()
	for _, m := range withDefaultMounts(cfg.Spec.Mounts) {
		if err := in.mount(r, m); err != nil {
			return err
		}
	}
	if err := in.setupDev(r, lx.Devices); err != nil {
		return err
	}
	if cwd := cfg.Process.Cwd; cwd != "" {
		if _, err := r.create(cwd, false); err != nil {
			return fmt.Errorf("create cwd %s: %w", cwd, err)
		}
	}
	if err := in.conn.send(&message{Type: msgCreateRuntime}); err != nil {
		return errParentGone
	}
	m, err := in.conn.recv()
	if err != nil {
		return errParentGone
	}
	if m.Type != msgResume {
		return fmt.Errorf("container init: expected resume, got %q", m.Type)
	}
	if h := cfg.Spec.Hooks; h != nil {
		dir := cfg.Bundle // as runc, which runs in the bundle
		if _, err := os.Stat(dir); err != nil {
			dir = "" // a mount namespace joined by path may lack it
		}
		if err := hooks.RunIn(dir, "createContainer", h.CreateContainer, cfg.State); err != nil {
			return err
		}
	}
	if err := in.switchRoot(rootfs); err != nil {
		return err
	}
	if lx.RootfsPropagation != "" {
		// Now, not before: on "/" of the container, not on the bundle's
		// mount, which may be shared with the host.
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("set rootfsPropagation %s on /: %w", lx.RootfsPropagation, err)
		}
	}
	return finalizeRootfs(cfg.Spec)
}

// makeParentPrivate makes the mount holding rootfs private if it is
// shared: pivot_root refuses a shared parent, and the bind mount of the
// root would propagate to the agent's namespace.
func makeParentPrivate(rootfs string) error {
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	m, ok := mountOf(ms, rootfs)
	if !ok || !m.shared() {
		return nil
	}
	if err := unix.Mount("", m.mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", m.mountpoint, err)
	}
	return nil
}

// mount mounts one entry of config.json's mounts inside the root.
func (in *initProc) mount(r *rootDir, m specs.Mount) error {
	dest := path.Clean("/" + m.Destination)
	what := m.Source
	if what == "" {
		what = m.Type
	}
	wrap := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("mount %s on %s: %w", what, dest, err)
	}
	if dest == "/" {
		return wrap(errors.New("the root is root.path, not a mount"))
	}
	o, err := parseMountOptions(m.Options)
	if err != nil {
		return wrap(err)
	}
	switch {
	case o.isBind() || m.Type == "bind":
		return wrap(in.bindMount(r, m.Source, dest, o))
	case m.Type == "cgroup" || m.Type == "cgroup2":
		return wrap(in.mountCgroup(r, dest, o))
	}
	err = r.withTarget(dest, false, func(t string, _ *os.File) error {
		return unix.Mount(m.Source, t, m.Type, o.flags, o.dataString())
	})
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
		// A user namespace without its own network namespace may not
		// mount sysfs, nor an old kernel mqueue: bind the agent's (runc).
		host := map[string]string{"sysfs": "/sys", "mqueue": "/dev/mqueue"}[m.Type]
		if host != "" && in.cfg.UserNS {
			in.debugf("mount %s on %s: %v; bind-mounting %s instead", what, dest, err, host)
			o.flags |= unix.MS_BIND | unix.MS_REC
			return wrap(in.bindMount(r, host, dest, o))
		}
	}
	if err != nil {
		return wrap(err)
	}
	return wrap(finishMount(r, dest, false, o))
}

// bindMount bind-mounts src (relative to the bundle unless absolute) on
// dest, then applies the flags a bind mount ignores with a remount.
func (in *initProc) bindMount(r *rootDir, src, dest string, o mountOptions) error {
	if src == "" {
		return errors.New("a bind mount needs a source")
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(in.cfg.Bundle, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	file := !fi.IsDir()
	err = r.withTarget(dest, file, func(t string, _ *os.File) error {
		return unix.Mount(src, t, "", unix.MS_BIND|(o.flags&unix.MS_REC), "")
	})
	if err != nil {
		return err
	}
	if extra := o.flagsAfterBind(); extra != 0 {
		if err := r.withTarget(dest, file, func(t string, _ *os.File) error {
			return remountBind(t, extra)
		}); err != nil {
			return fmt.Errorf("remount with %s: %w", describeFlags(extra), err)
		}
	}
	return finishMount(r, dest, file, o)
}

// remountBind changes a bind mount's flags. Where the kernel refuses to
// drop flags locked by a more privileged namespace, it retries keeping
// them.
func remountBind(target string, flags uintptr) error {
	err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if serr := unix.Statfs(target, &st); serr != nil {
		return err
	}
	return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags|lockedFlags(st.Flags), "")
}

// finishMount applies the propagation and recursive options to the new
// mount on dest.
func finishMount(r *rootDir, dest string, file bool, o mountOptions) error {
	if len(o.propagation) == 0 && !o.isRecursive() {
		return nil
	}
	return r.withTarget(dest, file, func(t string, f *os.File) error {
		for _, p := range o.propagation {
			if err := unix.Mount("", t, "", p, ""); err != nil {
				return fmt.Errorf("set propagation %#x: %w", p, err)
			}
		}
		if o.isRecursive() {
			attr := &unix.MountAttr{Attr_set: o.attrSet, Attr_clr: o.attrClr}
			if err := unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
				return fmt.Errorf("mount_setattr (set %#x, clear %#x): %w", o.attrSet, o.attrClr, err)
			}
		}
		return nil
	})
}

// mountCgroup mounts the cgroup v2 hierarchy: a fresh cgroup2 mount in a
// cgroup namespace of the container's own, else a bind mount of the
// init's own cgroup directory (runc does the same), so the container
// never sees the agent's tree above it.
func (in *initProc) mountCgroup(r *rootDir, dest string, o mountOptions) error {
	if in.cfg.CgroupNS {
		err := r.withTarget(dest, false, func(t string, _ *os.File) error {
			return unix.Mount("cgroup2", t, "cgroup2", o.flags, o.dataString())
		})
		if err == nil {
			return finishMount(r, dest, false, o)
		}
		if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EBUSY) {
			return err
		}
		in.debugf("mount cgroup2 on %s: %v; bind-mounting the container's cgroup instead", dest, err)
	}
	dir, err := cgroupDir("self")
	if err != nil {
		return err
	}
	o.flags |= unix.MS_BIND | unix.MS_REC
	return in.bindMount(r, dir, dest, o)
}

// describeFlags names the mount flags in an error message.
func describeFlags(f uintptr) string {
	var names []string
	for name, mf := range mountFlags {
		if !mf.clear && mf.flag != 0 && f&mf.flag == mf.flag && mf.flag&(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) == 0 {
			names = append(names, name)
			f &^= mf.flag
		}
	}
	sort.Strings(names)
	if f != 0 {
		names = append(names, fmt.Sprintf("%#x", f))
	}
	return strings.Join(names, ",")
}
