package container

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Magic numbers of the file systems an initramfs root can be (statfs(2)).
const (
	ramfsMagic = 0x858458f6
	tmpfsMagic = 0x01021994
)

// switchRoot makes rootfs the root: pivot_root, or, where the current
// root is an initramfs (pivot_root cannot move rootfs), MS_MOVE + chroot.
func (in *initProc) switchRoot(rootfs string) error {
	if in.cfg.NoPivot {
		return msMoveRoot(rootfs)
	}
	err := pivotRoot(rootfs)
	if !errors.Is(err, unix.EINVAL) {
		return err
	}
	var st unix.Statfs_t
	if serr := unix.Statfs("/", &st); serr != nil || (st.Type != ramfsMagic && st.Type != tmpfsMagic) {
		return err
	}
	in.debugf("pivot_root: %v (the root is an initramfs): moving the root and chroot instead", err)
	return msMoveRoot(rootfs)
}

// pivotRoot is runc's pivot_root(".", "."): the old root ends up under
// the new one and is unmounted at once, with no directory for it.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("fchdir to the root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("fchdir to the old root: %w", err)
	}
	// Slave first, so the unmount does not propagate to the agent.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make the old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// msMoveRoot moves rootfs over / and chroots into it (runc's
// no-pivot path). The agent's full proc and sysfs mounts stay reachable
// in the mount namespace otherwise, and the kernel would then let the
// container mount procfs past its masks, so they are unmounted (or
// covered) first.
func msMoveRoot(rootfs string) error {
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.root != "/" || (m.fstype != "proc" && m.fstype != "sysfs") || pathWithin(m.mountpoint, rootfs) {
			continue
		}
		if err := unix.Mount("", m.mountpoint, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("make %s rslave: %w", m.mountpoint, err)
		}
		if err := unix.Unmount(m.mountpoint, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("unmount %s: %w", m.mountpoint, err)
			}
			if err := unix.Mount("tmpfs", m.mountpoint, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("cover %s: %w", m.mountpoint, err)
			}
		}
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// finalizeRootfs makes /dev read-only when its mount asked for it (runc:
// only now, after the device nodes were made) and the root read-only
// for root.readonly.
func finalizeRootfs(s *specs.Spec) error {
	for _, m := range s.Mounts {
		if path.Clean("/"+m.Destination) != "/dev" {
			continue
		}
		if o, err := parseMountOptions(m.Options); err == nil && o.flags&unix.MS_RDONLY != 0 {
			if err := remountBind("/dev", unix.MS_RDONLY); err != nil {
				return fmt.Errorf("remount /dev read-only: %w", err)
			}
		}
	}
	if s.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("remount / read-only (root.readonly): %w", err)
		}
	}
	return nil
}

// readonlyPath bind-mounts path on itself read-only (linux.readonlyPaths);
// a missing path is skipped.
func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("readonlyPaths: bind %s: %w", p, err)
	}
	if err := remountBind(p, unix.MS_RDONLY|unix.MS_REC); err != nil {
		return fmt.Errorf("readonlyPaths: remount %s read-only: %w", p, err)
	}
	return nil
}

// maskPath hides path (linux.maskedPaths): /dev/null over a file, an
// empty read-only tmpfs over a directory; a missing path is skipped.
func maskPath(p string) error {
	err := unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	if errors.Is(err, unix.ENOTDIR) {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("maskedPaths: %s: %w", p, err)
	}
	return nil
}

// sysctlPath maps a linux.sysctl key to its /proc/sys file.
func sysctlPath(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("linux.sysctl: bad key %q", key)
	}
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/"), nil
}

// writeSysctls writes linux.sysctl through the container's /proc.
func writeSysctls(m map[string]string) error {
	for k, v := range m {
		p, err := sysctlPath(k)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}
