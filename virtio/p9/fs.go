package p9

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hugelgupf/p9/linux"
	lib9p "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// The file server: a lib9p.Attacher and lib9p.File over one host directory
// that never reaches outside it.
//
// Every node is an O_PATH file descriptor. A walk opens one name at a
// time relative to its directory's descriptor with O_NOFOLLOW, and a name
// is never "", ".", ".." or holds a '/' or NUL: no host path is ever built
// from guest names, so nothing resolves above the root, and a symbolic
// link is opened as itself, never followed (the guest resolves links, with
// Treadlink). Data access reopens the node's own inode through
// /proc/self/fd/N, after checking its type: regular files and directories
// only, so a device node in the tree never opens a host device. Creation
// is O_CREAT|O_EXCL|O_NOFOLLOW and the *at calls on directory
// descriptors. A read-only share answers every mutation EROFS.

// fsys is the served directory.
type fsys struct {
	root    int // O_PATH descriptor of the root directory
	ro      bool
	rootDev uint64
	rootIno uint64

	mu   sync.Mutex
	devs map[uint64]uint64 // st_dev -> small number, for QID paths

	// nodes counts the files not closed yet: the server's fids (each fid
	// holds one file; a walk's intermediate files are closed at once).
	nodes atomic.Int64
	// maxNodes bounds nodes for walks and attaches (Options.MaxFiles); a
	// soft bound: concurrent requests may pass it by their number.
	maxNodes int64
	tooMany  *atomic.Uint64 // Stats.TooManyFiles; nil in tests of fsys alone
}

// full refuses a new fid past maxNodes: ENFILE, counted.
func (fs *fsys) full() error {
	if fs.maxNodes > 0 && fs.nodes.Load() >= fs.maxNodes {
		if fs.tooMany != nil {
			fs.tooMany.Add(1)
		}
		return linux.ENFILE
	}
	return nil
}

// newFile returns a node of the share, counted in nodes until Close.
func (fs *fsys) newFile(fd, open int, root bool) *file {
	fs.nodes.Add(1)
	return &file{fs: fs, fd: fd, root: root, open: open, live: true}
}

func openFS(path string, ro bool) (*fsys, error) {
	// The operator's path may contain symbolic links; only guest names are
	// held to O_NOFOLLOW.
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("p9: share %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd) // the stat error is the one to report
		return nil, fmt.Errorf("p9: share %s: %w", path, err)
	}
	return &fsys{root: fd, ro: ro, rootDev: st.Dev, rootIno: st.Ino, devs: map[uint64]uint64{st.Dev: 0}}, nil
}

func (fs *fsys) close() error { return unix.Close(fs.root) }

// Attach implements lib9p.Attacher: a fresh node for the root.
func (fs *fsys) Attach() (lib9p.File, error) {
	if err := fs.full(); err != nil {
		return nil, err
	}
	fd, err := dupFD(fs.root)
	if err != nil {
		return nil, errno(err)
	}
	return fs.newFile(fd, -1, true), nil
}

// qid makes the QID of a file from its stat: the path is the inode number,
// with the file system's number (in order of first sight, the root's 0)
// in the top byte, so files on file systems mounted inside the share do
// not collide.
func (fs *fsys) qid(st *unix.Stat_t) lib9p.QID {
	return lib9p.QID{Type: lib9p.FileMode(st.Mode).QIDType(), Path: fs.qidPath(st.Dev, st.Ino)}
}

func (fs *fsys) qidPath(dev, ino uint64) uint64 {
	if dev == fs.rootDev {
		return ino
	}
	fs.mu.Lock()
	n, ok := fs.devs[dev]
	if !ok {
		n = uint64(len(fs.devs)) & 0xff
		fs.devs[dev] = n
	}
	fs.mu.Unlock()
	return ino ^ n<<56
}

// errno turns a host error into the errno the guest gets. The p9 server's
// own mapping goes through os.ErrPermission and friends, which would turn
// EPERM into EACCES and ENOTEMPTY into EEXIST.
func errno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return linux.Errno(e)
	}
	return err
}

// checkName refuses names that are not one plain directory entry.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return linux.EINVAL
	}
	if len(name) > unix.NAME_MAX {
		return linux.ENAMETOOLONG
	}
	return nil
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func dupFD(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

// retry repeats a system call interrupted by a signal.
func retry(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

func fstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := retry(func() error { return unix.Fstat(fd, &st) })
	return st, err
}

// walkName opens name in the directory dirfd as an O_PATH descriptor
// without following it, and stats it.
func walkName(dirfd int, name string) (int, unix.Stat_t, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, unix.Stat_t{}, err
	}
	st, err := fstat(fd)
	if err != nil {
		_ = unix.Close(fd) // the stat error is the one to report
		return -1, unix.Stat_t{}, err
	}
	return fd, st, nil
}

// attrOf fills a lib9p.Attr from a stat.
func attrOf(st *unix.Stat_t) (lib9p.AttrMask, lib9p.Attr) {
	valid := lib9p.AttrMask{Mode: true, NLink: true, UID: true, GID: true, RDev: true,
		ATime: true, MTime: true, CTime: true, INo: true, Size: true, Blocks: true}
	return valid, lib9p.Attr{
		Mode:             lib9p.FileMode(st.Mode),
		UID:              lib9p.UID(st.Uid),
		GID:              lib9p.GID(st.Gid),
		NLink:            lib9p.NLink(st.Nlink),
		RDev:             lib9p.Dev(st.Rdev),
		Size:             uint64(st.Size),
		BlockSize:        uint64(st.Blksize),
		Blocks:           uint64(st.Blocks),
		ATimeSeconds:     uint64(st.Atim.Sec),
		ATimeNanoSeconds: uint64(st.Atim.Nsec),
		MTimeSeconds:     uint64(st.Mtim.Sec),
		MTimeNanoSeconds: uint64(st.Mtim.Nsec),
		CTimeSeconds:     uint64(st.Ctim.Sec),
		CTimeNanoSeconds: uint64(st.Ctim.Nsec),
	}
}
