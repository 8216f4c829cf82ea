package p9

import (
	"errors"
	"sync"

	"github.com/hugelgupf/p9/linux"
	lib9p "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// file is one node of the share (one fid of the server's).
type file struct {
	lib9p.DefaultWalkGetAttr // ENOSYS: the server walks, then gets attributes

	fs   *fsys
	fd   int  // O_PATH, O_NOFOLLOW descriptor of the node (for a created file: a dup of open)
	root bool // the share's root (its ".." is itself)

	mu   sync.Mutex // open, live, and the directory position between seek and getdents
	open int        // the opened descriptor after Open or Create; -1 before
	live bool       // counted in fs.nodes: not closed yet
}

var _ lib9p.File = (*file)(nil)

// Walk implements lib9p.File: no name clones the node, one name opens that
// entry of this directory without following it. The server walks one name
// at a time and refuses to walk on from anything but a directory.
func (f *file) Walk(names []string) ([]lib9p.QID, lib9p.File, error) {
	if err := f.fs.full(); err != nil {
		return nil, nil, err
	}
	switch len(names) {
	case 0:
		fd, err := dupFD(f.fd)
		if err != nil {
			return nil, nil, errno(err)
		}
		return nil, f.fs.newFile(fd, -1, f.root), nil
	case 1:
		if err := checkName(names[0]); err != nil {
			return nil, nil, err
		}
		fd, st, err := walkName(f.fd, names[0])
		if err != nil {
			return nil, nil, errno(err)
		}
		return []lib9p.QID{f.fs.qid(&st)}, f.fs.newFile(fd, -1, false), nil
	}
	return nil, nil, linux.EINVAL
}

// GetAttr implements lib9p.File.
func (f *file) GetAttr(lib9p.AttrMask) (lib9p.QID, lib9p.AttrMask, lib9p.Attr, error) {
	st, err := fstat(f.fd)
	if err != nil {
		return lib9p.QID{}, lib9p.AttrMask{}, lib9p.Attr{}, errno(err)
	}
	valid, attr := attrOf(&st)
	return f.fs.qid(&st), valid, attr, nil
}

// StatFS implements lib9p.File.
func (f *file) StatFS() (lib9p.FSStat, error) {
	var s unix.Statfs_t
	if err := retry(func() error { return unix.Fstatfs(f.fd, &s) }); err != nil {
		return lib9p.FSStat{}, errno(err)
	}
	return lib9p.FSStat{
		Type:            uint32(s.Type),
		BlockSize:       uint32(s.Bsize),
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		FSID:            uint64(uint32(s.Fsid.Val[0])) | uint64(uint32(s.Fsid.Val[1]))<<32,
		NameLength:      uint32(s.Namelen),
	}, nil
}

// Close implements lib9p.File.
func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live {
		f.live = false
		f.fs.nodes.Add(-1)
	}
	var errs []error
	if f.open >= 0 {
		errs = append(errs, unix.Close(f.open))
		f.open = -1
	}
	if f.fd >= 0 {
		errs = append(errs, unix.Close(f.fd))
		f.fd = -1
	}
	return errors.Join(errs...)
}

// openFlags are the lopen/lcreate flags passed on to the host: the access
// mode, truncation and synchronous writes. The rest (O_CREAT, O_EXCL,
// O_NOFOLLOW, O_DIRECTORY, O_NOATIME, O_APPEND, ...) is the device's
// business or meaningless for positioned I/O.
const openFlags = unix.O_ACCMODE | unix.O_TRUNC | unix.O_SYNC | unix.O_DSYNC

// Open implements lib9p.File: regular files and directories only, reopened
// through the node's own descriptor.
func (f *file) Open(mode lib9p.OpenFlags) (lib9p.QID, uint32, error) {
	st, err := fstat(f.fd)
	if err != nil {
		return lib9p.QID{}, 0, errno(err)
	}
	flags := int(mode) & openFlags
	acc := flags & unix.O_ACCMODE
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		if acc != unix.O_RDONLY {
			return lib9p.QID{}, 0, linux.EISDIR
		}
		flags = unix.O_RDONLY | unix.O_DIRECTORY
	case unix.S_IFLNK:
		return lib9p.QID{}, 0, linux.ELOOP
	default: // devices, FIFOs and sockets are the guest kernel's own
		return lib9p.QID{}, 0, linux.EPERM
	}
	if acc == unix.O_ACCMODE {
		return lib9p.QID{}, 0, linux.EINVAL
	}
	if f.fs.ro && (acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
		return lib9p.QID{}, 0, linux.EROFS
	}
	var fd int
	err = retry(func() (err error) {
		fd, err = unix.Open(procPath(f.fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		return err
	})
	if err != nil {
		return lib9p.QID{}, 0, errno(err)
	}
	f.mu.Lock()
	if f.open >= 0 { // the server opens a node once; be safe anyway
		f.mu.Unlock()
		_ = unix.Close(fd)
		return lib9p.QID{}, 0, linux.EINVAL
	}
	f.open = fd
	f.mu.Unlock()
	return f.fs.qid(&st), 0, nil
}

func (f *file) opened() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open < 0 {
		return -1, linux.EBADF
	}
	return f.open, nil
}

// ReadAt implements lib9p.File: one pread, short at end of file.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	fd, err := f.opened()
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, linux.EINVAL
	}
	var n int
	err = retry(func() (err error) {
		n, err = unix.Pread(fd, p, off)
		return err
	})
	if err != nil {
		return 0, errno(err)
	}
	return n, nil
}

// WriteAt implements lib9p.File.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.ro {
		return 0, linux.EROFS
	}
	fd, err := f.opened()
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, linux.EINVAL
	}
	done := 0
	for done < len(p) {
		var n int
		err := retry(func() (err error) {
			n, err = unix.Pwrite(fd, p[done:], off+int64(done))
			return err
		})
		if err != nil {
			if done > 0 {
				return done, nil // the guest sees a short write
			}
			return 0, errno(err)
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// FSync implements lib9p.File.
func (f *file) FSync() error {
	fd, err := f.opened()
	if err != nil {
		return nil // nothing written through this fid
	}
	return errno(retry(func() error { return unix.Fsync(fd) }))
}

// Readlink implements lib9p.File: the link's text, for the guest to
// resolve.
func (f *file) Readlink() (string, error) {
	buf := make([]byte, unix.PathMax)
	var n int
	err := retry(func() (err error) {
		n, err = unix.Readlinkat(f.fd, "", buf)
		return err
	})
	if err != nil {
		return "", errno(err)
	}
	if n >= len(buf) {
		return "", linux.ENAMETOOLONG
	}
	return string(buf[:n]), nil
}

// Lock implements lib9p.File. The guest kernel keeps POSIX locks among its
// own processes before it asks; one guest is the only client of a share,
// so the server grants every request.
func (f *file) Lock(pid int, locktype lib9p.LockType, flags lib9p.LockFlags, start, length uint64, client string) (lib9p.LockStatus, error) {
	return lib9p.LockStatusOK, nil
}

// Extended attributes are not supported (the device answers Txattrwalk and
// Txattrcreate EOPNOTSUPP before they reach the server).

// SetXattr implements lib9p.File.
func (f *file) SetXattr(string, []byte, lib9p.XattrFlags) error { return linux.EOPNOTSUPP }

// GetXattr implements lib9p.File.
func (f *file) GetXattr(string) ([]byte, error) { return nil, linux.EOPNOTSUPP }

// ListXattrs implements lib9p.File.
func (f *file) ListXattrs() ([]string, error) { return nil, linux.EOPNOTSUPP }

// RemoveXattr implements lib9p.File.
func (f *file) RemoveXattr(string) error { return linux.EOPNOTSUPP }

// Rename implements lib9p.File; the server uses RenameAt.
func (f *file) Rename(lib9p.File, string) error { return linux.ENOSYS }

// Renamed implements lib9p.File: nodes are descriptors, names do not
// matter.
func (f *file) Renamed(lib9p.File, string) {}
