package container

import (
	"errors"
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are the device nodes every container gets
// (runtime-spec config-linux.md "Default Devices"); an entry of
// linux.devices with the same path replaces one.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devLinks are the /dev symlinks runc makes (target, link).
var devLinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
}

// devicesFor merges the defaults with linux.devices.
func devicesFor(spec []specs.LinuxDevice) []specs.LinuxDevice {
	given := map[string]bool{}
	for _, d := range spec {
		given[path.Clean("/"+d.Path)] = true
	}
	var out []specs.LinuxDevice
	for _, d := range defaultDevices {
		if !given[d.Path] {
			out = append(out, d)
		}
	}
	return append(out, spec...)
}

// deviceMode returns mknod(2)'s mode and dev for a device.
func deviceMode(d specs.LinuxDevice) (uint32, int, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return 0, 0, fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	if d.Major < 0 || d.Minor < 0 || d.Major > 0xfffff || d.Minor > 0xfffff {
		return 0, 0, fmt.Errorf("device %s: bad number %d:%d", d.Path, d.Major, d.Minor)
	}
	return typ | perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))), nil
}

// setupDev makes the device nodes, /dev's symlinks, /dev/ptmx and, with
// a terminal, /dev/console.
func (in *initProc) setupDev(r *rootDir, devs []specs.LinuxDevice) error {
	old := unix.Umask(0) // the modes are exactly the config's
	defer unix.Umask(old)
	for _, d := range devicesFor(devs) {
		if err := in.createDevice(r, d); err != nil {
			return err
		}
	}
	links := devLinks
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		if err := symlinkInRoot(r, l[0], l[1]); err != nil {
			return err
		}
	}
	// /dev/ptmx must be the container's devpts instance's.
	if err := removeInRoot(r, "/dev/ptmx"); err != nil {
		return err
	}
	if err := symlinkInRoot(r, "pts/ptmx", "/dev/ptmx"); err != nil {
		return err
	}
	if in.cfg.Terminal {
		if err := bindConsole(r); err != nil {
			return err
		}
	}
	return nil
}

// bindConsole bind-mounts the terminal, fd 0, on /dev/console. The
// source is the slave's path, not /proc/self/fd/0: a bind mount's source
// must be in this mount namespace, and the open file's mount is the
// agent's; the same path here is this namespace's copy of that mount.
func bindConsole(r *rootDir) error {
	slave, err := os.Readlink("/proc/self/fd/0")
	if err != nil {
		return fmt.Errorf("the terminal (fd 0): %w", err)
	}
	err = r.withTarget("/dev/console", true, func(t string, _ *os.File) error {
		return unix.Mount(slave, t, "", unix.MS_BIND, "")
	})
	if err != nil {
		return fmt.Errorf("bind the terminal %s on /dev/console: %w", slave, err)
	}
	return nil
}

// createDevice makes one device node: mknod, or, where that is not
// allowed (a user namespace), a bind mount of the agent's node.
func (in *initProc) createDevice(r *rootDir, d specs.LinuxDevice) error {
	dest := path.Clean("/" + d.Path)
	mode, dev, err := deviceMode(d)
	if err != nil {
		return err
	}
	if !in.cfg.UserNS {
		parent, name, err := r.parentAndName(dest)
		if err != nil {
			return fmt.Errorf("device %s: %w", dest, err)
		}
		err = unix.Mknodat(int(parent.Fd()), name, mode, dev)
		if err == nil && (d.UID != nil || d.GID != nil) {
			uid, gid := -1, -1
			if d.UID != nil {
				uid = int(*d.UID)
			}
			if d.GID != nil {
				gid = int(*d.GID)
			}
			err = unix.Fchownat(int(parent.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		_ = parent.Close() // O_PATH
		switch {
		case err == nil, errors.Is(err, unix.EEXIST):
			return nil
		case !errors.Is(err, unix.EPERM):
			return fmt.Errorf("mknod %s: %w", dest, err)
		}
	}
	err = r.withTarget(dest, true, func(t string, _ *os.File) error {
		return unix.Mount(d.Path, t, "", unix.MS_BIND, "")
	})
	if err != nil {
		return fmt.Errorf("bind device %s: %w", dest, err)
	}
	return nil
}

func symlinkInRoot(r *rootDir, target, link string) error {
	parent, name, err := r.parentAndName(link)
	if err != nil {
		return fmt.Errorf("symlink %s: %w", link, err)
	}
	defer parent.Close()
	if err := unix.Symlinkat(target, int(parent.Fd()), name); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("symlink %s -> %s: %w", link, target, err)
	}
	return nil
}

func removeInRoot(r *rootDir, p string) error {
	parent, name, err := r.parentAndName(p)
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	defer parent.Close()
	if err := unix.Unlinkat(int(parent.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
