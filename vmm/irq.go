package vmm

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/kvm"
)

// irqLine is an interrupt line wired through an irqfd: a write to the eventfd
// makes KVM pulse the GSI on the in-kernel PIC/IOAPIC without leaving the
// kernel. It satisfies devices.Trigger (and, later, virtio's interrupt
// interface) without either package importing vmm.
type irqLine struct {
	fd  int
	gsi uint32
	one [8]byte
}

func newIRQLine(vm *kvm.VM, gsi uint32) (*irqLine, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd for IRQ %d: %w", gsi, err)
	}
	if err := vm.RegisterIRQFD(fd, gsi); err != nil {
		_ = unix.Close(fd) // the registration error is the one to report
		return nil, fmt.Errorf("irqfd for IRQ %d: %w", gsi, err)
	}
	l := &irqLine{fd: fd, gsi: gsi}
	binary.LittleEndian.PutUint64(l.one[:], 1)
	return l, nil
}

// Trigger raises the interrupt. EAGAIN means the counter is saturated, i.e.
// an interrupt is already pending: nothing is lost.
func (l *irqLine) Trigger() error {
	_, err := unix.Write(l.fd, l.one[:])
	if err != nil && err != unix.EAGAIN {
		return fmt.Errorf("raise IRQ %d: %w", l.gsi, err)
	}
	return nil
}

func (l *irqLine) close(vm *kvm.VM) error {
	err := vm.UnregisterIRQFD(l.fd, l.gsi)
	if cerr := unix.Close(l.fd); err == nil {
		err = cerr
	}
	return err
}
