package vmsandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmm"
)

// The bind mounts' share (runtime/vmmounts.go): every container VM has a
// virtio-9p share runtime.MountsTag of <dir>/mounts, empty unless the
// config bind-mounts host paths. Each such source is bind-mounted on
// <dir>/mounts/<index>/<name> in this process's own mount namespace, read-only
// where the config says so, so the guest reaches nothing else of the
// host's and cannot write through a read-only bind.

// mountsShare makes <dir>/mounts, binds the config's host sources on its
// entries and returns the share and what the agent needs to know. ownNS
// says that `hull create` started this process in a mount namespace of its
// own; without it a config with host binds is refused. The guest can write
// only through the writable binds: a share without binds is a read-only
// device, and with binds the share's own directory is a read-only mount
// (nothing lands in the state directory, on /run's tmpfs, but what a
// writable source takes).
func mountsShare(dir string, spec *specs.Spec, bundle string, ownNS bool) (vmm.Share, []proto.HostMount, error) {
	share := vmm.Share{Tag: runtime.MountsTag, Path: filepath.Join(dir, runtime.MountsDir)}
	if err := os.Mkdir(share.Path, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return share, nil, err
	}
	binds, err := runtime.VMHostBinds(spec, bundle)
	if err != nil || len(binds) == 0 {
		share.ReadOnly = true
		return share, nil, err
	}
	if !ownNS {
		return share, nil, errors.New("the config has bind mounts of host paths, but the VMM process has no mount namespace of its own to serve them from")
	}
	var hm []proto.HostMount
	for _, b := range binds {
		if err := bindEntry(filepath.Join(share.Path, b.Name()), b); err != nil {
			return share, nil, fmt.Errorf("mounts[%d] (%s): %w", b.Index, spec.Mounts[b.Index].Destination, err)
		}
		hm = append(hm, proto.HostMount{Index: b.Index, Name: b.Name()})
	}
	// The share itself read-only, its entries (copied by MS_REC) as bound.
	if err := unix.Mount(share.Path, share.Path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return share, nil, fmt.Errorf("bind-mounting the share %s on itself: %w", share.Path, err)
	}
	if err := unix.Mount("", share.Path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return share, nil, fmt.Errorf("making the share %s read-only: %w", share.Path, err)
	}
	return share, hm, nil
}

// bindEntry binds b's source on target, a new empty directory or file
// (its parent, <share>/<index>, is made first).
func bindEntry(target string, b runtime.HostBind) error {
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	if b.Dir {
		if err := os.Mkdir(target, 0o700); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	flags := uintptr(unix.MS_BIND)
	if b.Recursive {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(b.Source, target, "", flags, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", b.Source, err)
	}
	if !b.ReadOnly {
		return nil
	}
	if b.Recursive {
		// ro with rbind: the mounts below the source too (Linux 5.12+),
		// else a guest could write through a sub-mount.
		err := unix.MountSetattr(-1, target, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("making the rbind of %s read-only: %w", b.Source, err)
		}
		// No mount_setattr: the top mount only (as runc before 1.1).
	}
	// A read-only bind keeps the source mount's nosuid, nodev, noexec
	// (which a remount may not clear).
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	var keep uintptr
	for _, f := range [][2]uintptr{{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME}} {
		if uintptr(st.Flags)&f[0] != 0 {
			keep |= f[1]
		}
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|keep, ""); err != nil {
		return fmt.Errorf("making the bind of %s read-only: %w", b.Source, err)
	}
	return nil
}
