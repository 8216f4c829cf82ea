package p9

import (
	"github.com/hugelgupf/p9/linux"
	lib9p "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// The operations that change the tree: each refused EROFS on a read-only
// share, each on a directory descriptor and a checked name.

// writable checks that the share is writable and name is one entry.
func (f *file) writable(names ...string) error {
	if f.fs.ro {
		return linux.EROFS
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
	}
	return nil
}

// sibling returns other as a node of the same share.
func (f *file) sibling(other lib9p.File) (*file, error) {
	o, ok := other.(*file)
	if !ok || o.fs != f.fs {
		return nil, linux.EXDEV
	}
	return o, nil
}

// chmodNode sets the permission bits of the node fd (not a symbolic link)
// exactly: the host's umask does not apply to the guest's files.
func chmodNode(fd int, mode uint32) error {
	return retry(func() error { return unix.Fchmodat(unix.AT_FDCWD, procPath(fd), mode&0o7777, 0) })
}

// settle opens the entry name just made in dirfd, checks it has the type
// it was made with, gives it mode's permission bits (not for links) and
// returns its QID.
func (f *file) settle(name string, typ, mode uint32) (lib9p.QID, error) {
	fd, st, err := walkName(f.fd, name)
	if err != nil {
		return lib9p.QID{}, errno(err)
	}
	defer func() { _ = unix.Close(fd) }() // O_PATH: nothing to flush
	if st.Mode&unix.S_IFMT != typ {
		return lib9p.QID{}, linux.EIO // replaced under us on the host
	}
	// The host's umask took permission bits away; the set-id and sticky
	// bits the host added (a directory in a set-group-ID one) stay.
	if typ != unix.S_IFLNK && st.Mode&0o777 != mode&0o777 {
		if err := chmodNode(fd, mode&0o7777|st.Mode&0o7000); err != nil {
			return lib9p.QID{}, errno(err)
		}
	}
	return f.fs.qid(&st), nil
}

// SetAttr implements lib9p.File.
func (f *file) SetAttr(valid lib9p.SetAttrMask, attr lib9p.SetAttr) error {
	if f.fs.ro {
		return linux.EROFS
	}
	st, err := fstat(f.fd)
	if err != nil {
		return errno(err)
	}
	link := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if valid.Permissions {
		if link {
			return linux.EOPNOTSUPP
		}
		if err := chmodNode(f.fd, uint32(attr.Permissions)); err != nil {
			return errno(err)
		}
	}
	if valid.UID || valid.GID {
		uid, gid := -1, -1
		if valid.UID {
			uid = int(attr.UID)
		}
		if valid.GID {
			gid = int(attr.GID)
		}
		if err := retry(func() error { return unix.Fchownat(f.fd, "", uid, gid, unix.AT_EMPTY_PATH) }); err != nil {
			return errno(err)
		}
	}
	if valid.Size {
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
		case unix.S_IFDIR:
			return linux.EISDIR
		default:
			return linux.EINVAL
		}
		if attr.Size > 1<<63-1 {
			return linux.EFBIG
		}
		if err := retry(func() error { return unix.Truncate(procPath(f.fd), int64(attr.Size)) }); err != nil {
			return errno(err)
		}
	}
	if valid.ATime || valid.MTime {
		if link {
			return nil // no way to set a link's times through its descriptor; Linux's v9fs never asks
		}
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if valid.ATime {
			ts[0] = timespec(valid.ATimeNotSystemTime, attr.ATimeSeconds, attr.ATimeNanoSeconds)
		}
		if valid.MTime {
			ts[1] = timespec(valid.MTimeNotSystemTime, attr.MTimeSeconds, attr.MTimeNanoSeconds)
		}
		if err := retry(func() error { return unix.UtimesNanoAt(unix.AT_FDCWD, procPath(f.fd), ts, 0) }); err != nil {
			return errno(err)
		}
	}
	return nil
}

// timespec is the given time, or now when the client did not give one.
func timespec(given bool, sec, nsec uint64) unix.Timespec {
	if !given {
		return unix.Timespec{Nsec: unix.UTIME_NOW}
	}
	if nsec >= 1e9 {
		nsec = 1e9 - 1
	}
	return unix.Timespec{Sec: int64(sec), Nsec: int64(nsec)}
}

// Create implements lib9p.File: a new regular file, opened. The server
// passes no uid: the file belongs to the VMM's user, as with every file
// the guest makes.
func (f *file) Create(name string, flags lib9p.OpenFlags, perm lib9p.FileMode, _ lib9p.UID, _ lib9p.GID) (lib9p.File, lib9p.QID, uint32, error) {
	if err := f.writable(name); err != nil {
		return nil, lib9p.QID{}, 0, err
	}
	acc := int(flags) & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return nil, lib9p.QID{}, 0, linux.EINVAL
	}
	oflags := acc | int(flags)&(unix.O_SYNC|unix.O_DSYNC) | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(f.fd, name, oflags, uint32(perm)&0o7777)
		return err
	})
	if err != nil {
		return nil, lib9p.QID{}, 0, errno(err)
	}
	nf := f.fs.newFile(-1, fd, false)
	st, err := fstat(fd)
	if err == nil && st.Mode&0o777 != uint32(perm)&0o777 { // the host's umask
		err = retry(func() error { return unix.Fchmod(fd, uint32(perm)&0o7777) })
	}
	if err == nil {
		nf.fd, err = dupFD(fd)
	}
	if err != nil {
		_ = nf.Close() // the first error is the one to report
		return nil, lib9p.QID{}, 0, errno(err)
	}
	return nf, f.fs.qid(&st), 0, nil
}

// Mkdir implements lib9p.File.
func (f *file) Mkdir(name string, perm lib9p.FileMode, _ lib9p.UID, _ lib9p.GID) (lib9p.QID, error) {
	if err := f.writable(name); err != nil {
		return lib9p.QID{}, err
	}
	if err := retry(func() error { return unix.Mkdirat(f.fd, name, uint32(perm)&0o7777) }); err != nil {
		return lib9p.QID{}, errno(err)
	}
	return f.settle(name, unix.S_IFDIR, uint32(perm))
}

// Symlink implements lib9p.File: a link named newName whose text is
// target, kept as given (it is resolved in the guest, never here).
func (f *file) Symlink(target, newName string, _ lib9p.UID, _ lib9p.GID) (lib9p.QID, error) {
	if err := f.writable(newName); err != nil {
		return lib9p.QID{}, err
	}
	switch {
	case target == "" || containsNUL(target):
		return lib9p.QID{}, linux.EINVAL
	case len(target) >= unix.PathMax:
		return lib9p.QID{}, linux.ENAMETOOLONG
	}
	if err := retry(func() error { return unix.Symlinkat(target, f.fd, newName) }); err != nil {
		return lib9p.QID{}, errno(err)
	}
	return f.settle(newName, unix.S_IFLNK, 0)
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// Link implements lib9p.File: a hard link to target, a node of the same
// share, by its descriptor (no path is resolved).
func (f *file) Link(target lib9p.File, newName string) error {
	if err := f.writable(newName); err != nil {
		return err
	}
	t, err := f.sibling(target)
	if err != nil {
		return err
	}
	err = retry(func() error { return unix.Linkat(t.fd, "", f.fd, newName, unix.AT_EMPTY_PATH) })
	if err == unix.ENOENT || err == unix.EPERM {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link of the
		// descriptor is the same inode without it (linkat(2)).
		err = retry(func() error {
			return unix.Linkat(unix.AT_FDCWD, procPath(t.fd), f.fd, newName, unix.AT_SYMLINK_FOLLOW)
		})
	}
	return errno(err)
}

// Mknod implements lib9p.File: regular files, FIFOs and sockets. Device
// nodes are refused (EPERM): the host would open its own device for them.
func (f *file) Mknod(name string, mode lib9p.FileMode, _, _ uint32, _ lib9p.UID, _ lib9p.GID) (lib9p.QID, error) {
	if err := f.writable(name); err != nil {
		return lib9p.QID{}, err
	}
	typ := uint32(mode) & unix.S_IFMT
	switch typ {
	case 0:
		typ = unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return lib9p.QID{}, linux.EPERM
	}
	if err := retry(func() error { return unix.Mknodat(f.fd, name, typ|uint32(mode)&0o7777, 0) }); err != nil {
		return lib9p.QID{}, errno(err)
	}
	return f.settle(name, typ, uint32(mode))
}

// RenameAt implements lib9p.File.
func (f *file) RenameAt(oldName string, newDir lib9p.File, newName string) error {
	if err := f.writable(oldName, newName); err != nil {
		return err
	}
	d, err := f.sibling(newDir)
	if err != nil {
		return err
	}
	return errno(retry(func() error { return unix.Renameat(f.fd, oldName, d.fd, newName) }))
}

// UnlinkAt implements lib9p.File; the only flag is AT_REMOVEDIR.
func (f *file) UnlinkAt(name string, flags uint32) error {
	if err := f.writable(name); err != nil {
		return err
	}
	return errno(retry(func() error { return unix.Unlinkat(f.fd, name, int(flags)&unix.AT_REMOVEDIR) }))
}
