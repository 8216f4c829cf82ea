package kvm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// VM is a KVM virtual machine. Its methods may be called concurrently;
// Close must not race with them. vCPUs keep the VM alive in the kernel until
// they are closed too.
type VM struct {
	fd int
}

// Close closes the VM fd. Closing twice is not an error.
func (v *VM) Close() error {
	return closeFD(&v.fd)
}

// CheckExtension is System.CheckExtension asked of this VM (some answers,
// such as CapMaxVCPUs, can differ per VM).
func (v *VM) CheckExtension(c Cap) (int, error) {
	if v.fd < 0 {
		return 0, ErrClosed
	}
	return checkExtension(v.fd, c)
}

// SetUserMemoryRegion maps mem at guest-physical address guestPhys as memory
// slot slot (KVM_SET_USER_MEMORY_REGION); flags are Mem* bits. An empty mem
// deletes the slot. KVM keeps using mem's address after the call: mem must
// stay mapped (typically a unix.Mmap region, not a Go heap slice) until the
// slot is deleted or the VM is closed.
func (v *VM) SetUserMemoryRegion(slot uint32, guestPhys uint64, mem []byte, flags uint32) error {
	if v.fd < 0 {
		return ErrClosed
	}
	r := userspaceMemoryRegion{
		Slot:          slot,
		Flags:         flags,
		GuestPhysAddr: guestPhys,
		MemorySize:    uint64(len(mem)),
		UserspaceAddr: sliceAddr(mem),
	}
	_, e := ioctlPtr(v.fd, _KVM_SET_USER_MEMORY_REGION, &r)
	return wrap("KVM_SET_USER_MEMORY_REGION", e)
}

// SetTSSAddr places the three-page TSS region Intel VMX needs for real mode
// (KVM_SET_TSS_ADDR); it must not overlap guest memory or MMIO.
func (v *VM) SetTSSAddr(addr uint64) error {
	if v.fd < 0 {
		return ErrClosed
	}
	_, e := ioctlVal(v.fd, _KVM_SET_TSS_ADDR, uintptr(addr))
	return wrap("KVM_SET_TSS_ADDR", e)
}

// SetIdentityMapAddr places the one-page identity map Intel VMX needs for
// real mode without EPT unrestricted guest (KVM_SET_IDENTITY_MAP_ADDR).
func (v *VM) SetIdentityMapAddr(addr uint64) error {
	if v.fd < 0 {
		return ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_SET_IDENTITY_MAP_ADDR, &addr)
	return wrap("KVM_SET_IDENTITY_MAP_ADDR", e)
}

// CreateIRQChip creates the in-kernel PIC, IOAPIC and local APICs
// (KVM_CREATE_IRQCHIP); call it before creating vCPUs.
func (v *VM) CreateIRQChip() error {
	if v.fd < 0 {
		return ErrClosed
	}
	_, e := ioctlVal(v.fd, _KVM_CREATE_IRQCHIP, 0)
	return wrap("KVM_CREATE_IRQCHIP", e)
}

// CreatePIT2 creates the in-kernel i8254 PIT (KVM_CREATE_PIT2, flags 0).
func (v *VM) CreatePIT2() error {
	if v.fd < 0 {
		return ErrClosed
	}
	var c pitConfig
	_, e := ioctlPtr(v.fd, _KVM_CREATE_PIT2, &c)
	return wrap("KVM_CREATE_PIT2", e)
}

// IRQLine sets the level of an in-kernel irqchip input (KVM_IRQ_LINE).
func (v *VM) IRQLine(irq uint32, level uint32) error {
	if v.fd < 0 {
		return ErrClosed
	}
	l := irqLevel{IRQ: irq, Level: level}
	_, e := ioctlPtr(v.fd, _KVM_IRQ_LINE, &l)
	return wrap("KVM_IRQ_LINE", e)
}

// RegisterIRQFD makes every write to the eventfd fd raise GSI gsi (KVM_IRQFD).
func (v *VM) RegisterIRQFD(fd int, gsi uint32) error {
	return v.irqfd(fd, gsi, 0)
}

// UnregisterIRQFD undoes RegisterIRQFD (KVM_IRQFD, KVM_IRQFD_FLAG_DEASSIGN).
func (v *VM) UnregisterIRQFD(fd int, gsi uint32) error {
	return v.irqfd(fd, gsi, _KVM_IRQFD_FLAG_DEASSIGN)
}

func (v *VM) irqfd(fd int, gsi, flags uint32) error {
	if v.fd < 0 {
		return ErrClosed
	}
	if fd < 0 {
		return &Error{Op: "KVM_IRQFD", Errno: unix.EBADF}
	}
	a := irqfd{FD: uint32(fd), GSI: gsi, Flags: flags}
	_, e := ioctlPtr(v.fd, _KVM_IRQFD, &a)
	return wrap("KVM_IRQFD", e)
}

// IOEventFD describes a guest write that KVM turns into an eventfd signal
// instead of an exit. Len is 1, 2, 4 or 8 (0: any length, MMIO only); PIO
// selects port I/O rather than MMIO; with HasDatamatch only writes of the
// value Datamatch match.
type IOEventFD struct {
	FD           int
	Addr         uint64
	Len          uint32
	PIO          bool
	Datamatch    uint64
	HasDatamatch bool
}

// RegisterIOEventFD registers e (KVM_IOEVENTFD).
func (v *VM) RegisterIOEventFD(e IOEventFD) error {
	return v.ioeventfd(e, 0)
}

// UnregisterIOEventFD removes a registration made with the same e
// (KVM_IOEVENTFD, KVM_IOEVENTFD_FLAG_DEASSIGN).
func (v *VM) UnregisterIOEventFD(e IOEventFD) error {
	return v.ioeventfd(e, _KVM_IOEVENTFD_FLAG_DEASSIGN)
}

func (v *VM) ioeventfd(e IOEventFD, flags uint32) error {
	if v.fd < 0 {
		return ErrClosed
	}
	a, err := e.mirror(flags)
	if err != nil {
		return err
	}
	_, errno := ioctlPtr(v.fd, _KVM_IOEVENTFD, &a)
	return wrap("KVM_IOEVENTFD", errno)
}

// mirror converts e into the kernel struct with the extra flags set.
func (e IOEventFD) mirror(flags uint32) (ioeventfd, error) {
	if e.FD < 0 || e.FD > 1<<31-1 {
		return ioeventfd{}, &Error{Op: "KVM_IOEVENTFD", Errno: unix.EBADF}
	}
	switch e.Len {
	case 0, 1, 2, 4, 8:
	default:
		return ioeventfd{}, fmt.Errorf("KVM_IOEVENTFD: length %d is not 0, 1, 2, 4 or 8: %w", e.Len, &Error{Op: "KVM_IOEVENTFD", Errno: unix.EINVAL})
	}
	if e.PIO {
		flags |= _KVM_IOEVENTFD_FLAG_PIO
	}
	if e.HasDatamatch {
		flags |= _KVM_IOEVENTFD_FLAG_DATAMATCH
	}
	return ioeventfd{Datamatch: e.Datamatch, Addr: e.Addr, Len: e.Len, FD: int32(e.FD), Flags: flags}, nil
}

// GetClock returns the VM's kvmclock (KVM_GET_CLOCK).
func (v *VM) GetClock() (ClockData, error) {
	var c ClockData
	if v.fd < 0 {
		return c, ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_GET_CLOCK, &c)
	return c, wrap("KVM_GET_CLOCK", e)
}

// SetClock sets the VM's kvmclock (KVM_SET_CLOCK).
func (v *VM) SetClock(c *ClockData) error {
	if v.fd < 0 {
		return ErrClosed
	}
	_, e := ioctlPtr(v.fd, _KVM_SET_CLOCK, c)
	return wrap("KVM_SET_CLOCK", e)
}

// CreateVCPU creates vCPU id (KVM_CREATE_VCPU) and maps its shared kvm_run
// area of mmapSize bytes (System.VCPUMmapSize) MAP_SHARED.
func (v *VM) CreateVCPU(id int, mmapSize int) (*VCPU, error) {
	if v.fd < 0 {
		return nil, ErrClosed
	}
	if id < 0 {
		return nil, fmt.Errorf("kvm: vCPU id %d is negative", id)
	}
	if mmapSize < minRunSize {
		return nil, fmt.Errorf("kvm: vCPU mmap size %d is below the %d-byte kvm_run", mmapSize, minRunSize)
	}
	r, e := ioctlVal(v.fd, _KVM_CREATE_VCPU, uintptr(id))
	if e != 0 {
		return nil, &Error{Op: "KVM_CREATE_VCPU", Errno: e}
	}
	fd := int(r)
	// The size GetXSave and SetXSave use, fixed once the VM has a vCPU.
	xsaveSize, err := v.XSaveSize()
	if err != nil {
		if cerr := unix.Close(fd); cerr != nil {
			return nil, fmt.Errorf("kvm: vCPU %d: %w (and close: %v)", id, err, cerr)
		}
		return nil, fmt.Errorf("kvm: vCPU %d: %w", id, err)
	}
	mem, err := unix.Mmap(fd, 0, mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		cerr := unix.Close(fd)
		if cerr != nil {
			return nil, fmt.Errorf("kvm: mmap vCPU %d kvm_run (%d bytes): %w (and close: %v)", id, mmapSize, err, cerr)
		}
		return nil, fmt.Errorf("kvm: mmap vCPU %d kvm_run (%d bytes): %w", id, mmapSize, err)
	}
	return &VCPU{fd: fd, id: id, mem: mem, run: NewRun(mem), xsaveSize: xsaveSize}, nil
}
