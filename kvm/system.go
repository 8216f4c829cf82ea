package kvm

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// DefaultPath is the KVM device Open uses when given "".
const DefaultPath = "/dev/kvm"

// Buffer sizes tried by the variable-length system ioctls.
const (
	firstCPUIDEntries = _KVM_MAX_CPUID_ENTRIES
	maxCPUIDEntries   = 4096
	firstMSRIndices   = 256
	maxMSRIndices     = 16384
)

// System is an open KVM device. Its methods may be called concurrently;
// Close must not race with them.
type System struct {
	fd int
}

// Open opens the KVM device at path ("" means /dev/kvm) read-write and
// close-on-exec. On failure the error is an *fs.PathError, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, fs.ErrPermission) work.
func Open(path string) (*System, error) {
	if path == "" {
		path = DefaultPath
	}
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &System{fd: fd}, nil
	}
}

// Close closes the device. Closing twice is not an error.
func (s *System) Close() error {
	return closeFD(&s.fd)
}

// closeFD closes *fd once and marks it closed.
func closeFD(fd *int) error {
	if *fd < 0 {
		return nil
	}
	err := unix.Close(*fd)
	*fd = -1
	return err
}

// APIVersion returns KVM_GET_API_VERSION; every usable kernel returns 12.
func (s *System) APIVersion() (int, error) {
	if s.fd < 0 {
		return 0, ErrClosed
	}
	r, e := ioctlVal(s.fd, _KVM_GET_API_VERSION, 0)
	return int(r), wrap("KVM_GET_API_VERSION", e)
}

// CheckExtension returns KVM_CHECK_EXTENSION for c: 0 when unsupported, 1
// (or a capability-specific number, such as a vCPU count) when supported.
func (s *System) CheckExtension(c Cap) (int, error) {
	if s.fd < 0 {
		return 0, ErrClosed
	}
	return checkExtension(s.fd, c)
}

func checkExtension(fd int, c Cap) (int, error) {
	r, e := ioctlVal(fd, _KVM_CHECK_EXTENSION, uintptr(c))
	return int(r), wrap("KVM_CHECK_EXTENSION", e)
}

// VCPUMmapSize returns the size of the mapping CreateVCPU must map
// (KVM_GET_VCPU_MMAP_SIZE): kvm_run plus the PIO data page and more.
func (s *System) VCPUMmapSize() (int, error) {
	if s.fd < 0 {
		return 0, ErrClosed
	}
	r, e := ioctlVal(s.fd, _KVM_GET_VCPU_MMAP_SIZE, 0)
	return int(r), wrap("KVM_GET_VCPU_MMAP_SIZE", e)
}

// SupportedCPUID returns the CPUID leaves KVM can expose
// (KVM_GET_SUPPORTED_CPUID), growing its buffer on E2BIG.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	if s.fd < 0 {
		return nil, ErrClosed
	}
	for n := firstCPUIDEntries; ; n *= 2 {
		buf := encodeCPUID2(make([]CPUIDEntry, n))
		_, e := ioctlBuf(s.fd, _KVM_GET_SUPPORTED_CPUID, buf)
		if e == unix.E2BIG {
			if n >= maxCPUIDEntries {
				return nil, &Error{Op: "KVM_GET_SUPPORTED_CPUID", Errno: e}
			}
			continue
		}
		if e != 0 {
			return nil, &Error{Op: "KVM_GET_SUPPORTED_CPUID", Errno: e}
		}
		return decodeCPUID2(buf)
	}
}

// MSRIndexList returns the MSRs KVM saves and restores
// (KVM_GET_MSR_INDEX_LIST), growing its buffer on E2BIG.
func (s *System) MSRIndexList() ([]uint32, error) {
	if s.fd < 0 {
		return nil, ErrClosed
	}
	n := firstMSRIndices
	for {
		buf := make([]byte, sizeofMSRListHeader+4*n)
		le.PutUint32(buf, uint32(n))
		_, e := ioctlBuf(s.fd, _KVM_GET_MSR_INDEX_LIST, buf)
		if e == unix.E2BIG {
			// The kernel wrote the count it needs into nmsrs.
			need := int(le.Uint32(buf))
			if need <= n {
				need = 2 * n
			}
			if need > maxMSRIndices {
				return nil, &Error{Op: "KVM_GET_MSR_INDEX_LIST", Errno: e}
			}
			n = need
			continue
		}
		if e != 0 {
			return nil, &Error{Op: "KVM_GET_MSR_INDEX_LIST", Errno: e}
		}
		return decodeMSRList(buf)
	}
}

// CreateVM creates a VM (KVM_CREATE_VM, default machine type).
func (s *System) CreateVM() (*VM, error) {
	if s.fd < 0 {
		return nil, ErrClosed
	}
	for {
		r, e := ioctlVal(s.fd, _KVM_CREATE_VM, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return nil, &Error{Op: "KVM_CREATE_VM", Errno: e}
		}
		return &VM{fd: int(r)}, nil
	}
}
