package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinks bounds symlink expansion in resolveInRoot (the kernel's
// limit is 40 per lookup; runc's securejoin uses 255).
const maxSymlinks = 255

// resolveInRoot resolves unsafePath as if root were "/": every symlink,
// absolute or relative, and every "..", is resolved inside root and can
// never leave it (filepath-securejoin's semantics). Components that do
// not exist are taken literally. It returns the resolved path relative
// to root, clean, without a leading slash ("" for root itself).
func resolveInRoot(root, unsafePath string) (string, error) {
	var done []string // resolved components, none a symlink
	rest := strings.Split(unsafePath, "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(done[:len(done):len(done)], c)
		full := filepath.Join(root, filepath.Join(cand...))
		fi, err := os.Lstat(full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				done = cand // missing: taken as is
				continue
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = cand
			continue
		}
		links++
		if links > maxSymlinks {
			return "", &os.PathError{Op: "resolve", Path: unsafePath, Err: unix.ELOOP}
		}
		target, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			done = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(done...), nil
}

// rootDir is the container's root file system before pivot_root, with
// the operations that must stay inside it. Paths go through
// resolveInRoot, and every open uses openat2(RESOLVE_IN_ROOT), so a
// symlink swapped in meanwhile still cannot point outside. Mounts target
// /proc/self/fd/N of such an open (runc's defence against CVE-2021-30465).
type rootDir struct {
	path string   // absolute host path
	fd   *os.File // O_PATH handle on it
}

func openRootDir(path string) (*rootDir, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &rootDir{path: path, fd: os.NewFile(uintptr(fd), path)}, nil
}

func (r *rootDir) close() { _ = r.fd.Close() } // O_PATH: nothing to flush

// open opens rel (relative to the root, already resolved or not) with
// O_PATH; symlinks in it resolve inside the root.
func (r *rootDir) open(rel string, flags int) (*os.File, error) {
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_PATH | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(int(r.fd.Fd()), rel, how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue // EAGAIN: a concurrent rename; retry as the man page says
		}
		if errors.Is(err, unix.ENOSYS) {
			return r.openResolved(rel, flags) // before Linux 5.6
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: "/" + strings.TrimPrefix(rel, "./"), Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(r.path, rel)), nil
	}
}

// openResolved is open without openat2: the path is resolved inside the
// root first, which a concurrent symlink swap could still defeat.
func (r *rootDir) openResolved(rel string, flags int) (*os.File, error) {
	res, err := resolveInRoot(r.path, rel)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(r.path, res)
	fd, err := unix.Open(p, flags|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/" + res, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// create resolves dest inside the root and creates what is missing of it:
// directories (mode 0755), and the last component as an empty file when
// file is set (a bind mount of a file needs a file to land on). It
// returns the resolved path relative to the root.
func (r *rootDir) create(dest string, file bool) (string, error) {
	rel, err := resolveInRoot(r.path, dest)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", nil
	}
	comps := strings.Split(rel, "/")
	for i := range comps {
		sub := filepath.Join(comps[:i+1]...)
		f, err := r.open(sub, 0)
		if err == nil {
			_ = f.Close()
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return "", err
		}
		parent, err := r.open(filepath.Join(comps[:i]...), unix.O_DIRECTORY)
		if err != nil {
			return "", err
		}
		last := i == len(comps)-1
		if last && file {
			var fd int
			fd, err = unix.Openat(int(parent.Fd()), comps[i], unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				_ = unix.Close(fd)
			}
		} else {
			err = unix.Mkdirat(int(parent.Fd()), comps[i], 0o755)
		}
		_ = parent.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return "", &os.PathError{Op: "create", Path: "/" + sub, Err: err}
		}
	}
	return rel, nil
}

// procFdPath names an open file for system calls that take a path
// (mount(2) follows the magic link to the very file opened).
func procFdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// withTarget creates dest inside the root (see create), opens it and
// calls fn with the open file and a path that names exactly that file.
// Call it again after mounting on dest to reach the new mount.
func (r *rootDir) withTarget(dest string, file bool, fn func(target string, f *os.File) error) error {
	rel, err := r.create(dest, file)
	if err != nil {
		return err
	}
	f, err := r.open(rel, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(procFdPath(f), f)
}

// parentAndName opens the parent directory of dest inside the root
// (creating it) and returns it with dest's last component, which is not
// resolved: a symlink there is the symlink itself.
func (r *rootDir) parentAndName(dest string) (*os.File, string, error) {
	dir, name := filepath.Split(filepath.Clean("/" + dest))
	if name == "" {
		return nil, "", fmt.Errorf("%s: is the root", dest)
	}
	rel, err := r.create(dir, false)
	if err != nil {
		return nil, "", err
	}
	parent, err := r.open(rel, unix.O_DIRECTORY)
	if err != nil {
		return nil, "", err
	}
	return parent, name, nil
}
