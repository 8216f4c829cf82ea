package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/container"
	"github.com/hullvm/hull/agent/proto"
)

// Mounter mounts and unmounts file systems for the Server: the virtio-9p
// share holding a container's root (proto.CreateArgs.RootfsTag).
// linuxSystem is one; unit tests record the calls.
type Mounter interface {
	// Mount creates m.Target if needed and mounts m there.
	Mount(m Mount) error
	// Unmount detaches the file system mounted on target.
	Unmount(target string) error
}

// Rootfs9pOptions are the options of a container's 9p root: 9P2000.L over
// virtio; an msize of 500 KiB, the most Linux's virtio transport takes
// (PAGE_SIZE * (VIRTQUEUE_NUM - 3)) and less than the VMM's device
// allows; cache=mmap, which caches no data or metadata beyond what
// shared writable mmap needs, so the host's bundle and the container see
// the same files (the root is a live view, as in the process sandbox).
const Rootfs9pOptions = "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"

// rootfs9p is the mount of a container's 9p root on dir.
func rootfs9p(tag, dir string, readonly bool) Mount {
	var flags uintptr
	if readonly {
		flags = unix.MS_RDONLY
	}
	return Mount{Source: tag, Target: dir, FSType: "9p", Flags: flags, Data: Rootfs9pOptions}
}

func (s *Server) containerDir() string {
	if s.ContainerDir != "" {
		return s.ContainerDir
	}
	return DefaultContainerDir
}

// mountRootfs mounts the share tag on <ContainerDir>/<id>/rootfs (the id
// is a valid one: no '/', not "." or "..") and returns that directory.
func (s *Server) mountRootfs(id, tag string, readonly bool) (string, error) {
	dir := filepath.Join(s.containerDir(), id, "rootfs")
	if err := s.Mounter.Mount(rootfs9p(tag, dir, readonly)); err != nil {
		s.removeDirs(dir)
		return "", fmt.Errorf("mounting the rootfs share %q (9p) on %s: %w", tag, dir, err)
	}
	s.logf("container %s: rootfs share %q mounted on %s", id, tag, dir)
	return dir, nil
}

// unmountRootfs undoes mountRootfs.
func (s *Server) unmountRootfs(id, dir string) error {
	if err := s.Mounter.Unmount(dir); err != nil {
		return fmt.Errorf("unmounting the rootfs %s: %w", dir, err)
	}
	s.removeDirs(dir)
	return nil
}

// checkHostMounts checks a create's host mounts against its config: each
// names a bind mount.
func checkHostMounts(spec *specs.Spec, ms []proto.HostMount) error {
	for _, hm := range ms {
		if hm.Index >= len(spec.Mounts) {
			return proto.Errorf(proto.CodeBadRequest, "hostMounts: index %d, but the config has %d mounts", hm.Index, len(spec.Mounts))
		}
		m := spec.Mounts[hm.Index]
		bind, _, _, err := container.BindMount(m)
		if err != nil {
			return proto.Errorf(proto.CodeBadRequest, "hostMounts: mounts[%d] (%s): %v", hm.Index, m.Destination, err)
		}
		if !bind {
			return proto.Errorf(proto.CodeBadRequest, "hostMounts: mounts[%d] (%s) is not a bind mount", hm.Index, m.Destination)
		}
	}
	return nil
}

// mountHostMounts mounts the share tag (the sources of the config's bind
// mounts of host paths) on <ContainerDir>/<id>/mounts and points each
// listed mount's source at its entry there. It returns the mount point.
func (s *Server) mountHostMounts(id, tag string, spec *specs.Spec, ms []proto.HostMount) (string, error) {
	dir := filepath.Join(s.containerDir(), id, "mounts")
	if err := s.Mounter.Mount(rootfs9p(tag, dir, false)); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("mounting the bind mounts' share %q (9p) on %s: %w", tag, dir, err)
	}
	for _, hm := range ms {
		spec.Mounts[hm.Index].Source = filepath.Join(dir, hm.Name)
	}
	s.logf("container %s: bind mounts' share %q mounted on %s (%d sources)", id, tag, dir, len(ms))
	return dir, nil
}

// unmountShare unmounts a share that is not the root and removes its
// mount point.
func (s *Server) unmountShare(dir string) error {
	if err := s.Mounter.Unmount(dir); err != nil {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logf("removing %s: %v", dir, err)
	}
	os.Remove(filepath.Dir(dir)) // the container's directory, once empty
	return nil
}

// unmountAll undoes mountHostMounts and mountRootfs after a failed
// create ("" for what was not mounted), logging what fails.
func (s *Server) unmountAll(id, rootfs, mounts string) {
	if mounts != "" {
		if err := s.unmountShare(mounts); err != nil {
			s.logf("container %s: %v", id, err)
		}
	}
	if rootfs != "" {
		if err := s.unmountRootfs(id, rootfs); err != nil {
			s.logf("container %s: %v", id, err)
		}
	}
}

// removeDirs removes an empty mount point and its container's directory,
// never anything in them.
func (s *Server) removeDirs(dir string) {
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logf("removing %s: %v", d, err)
			return
		}
	}
}
