package vmm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/kvm"
	"github.com/hullvm/hull/virtio"
	"github.com/hullvm/hull/virtio/blk"
	"github.com/hullvm/hull/virtio/rng"
)

// Disk is a virtio-blk disk: a raw image file (or block device).
type Disk struct {
	Path     string
	ReadOnly bool
}

// virtioDev is one virtio-mmio device of the VM, in slot order: disks
// first (vda, vdb, ... in Config.Disks order), then the network devices
// (eth0, eth1, ... in Config.Nets order), the 9p shares (in
// Config.Shares order), the RNG, vsock.
type virtioDev struct {
	name    string
	dev     virtio.Device
	close   func() error // the backend (disk file); nil when there is none
	addr    guestmem.GPA
	gsi     uint32
	irq     *irqLine
	mmio    *virtio.MMIO
	ioevent []kvm.IOEventFD // registered with KVM
}

// checkVirtio validates the virtio part of a configuration.
func checkVirtio(c *Config) error {
	n := len(c.Disks) + len(c.Nets) + len(c.Shares)
	if c.RNG {
		n++
	}
	if c.Vsock != nil {
		n++
	}
	if n > boot.VirtioMMIOMaxDevices {
		return fmt.Errorf("%w: %d virtio devices, at most %d", ErrConfig, n, boot.VirtioMMIOMaxDevices)
	}
	for i, d := range c.Disks {
		if d.Path == "" {
			return fmt.Errorf("%w: disk %d has no path", ErrConfig, i)
		}
	}
	if err := checkShares(c.Shares); err != nil {
		return err
	}
	return checkNets(c.Nets)
}

// openVirtio creates the device models and opens their backends, before
// any KVM work: a missing disk fails the same way on every host.
func (m *machine) openVirtio() error {
	if err := checkVirtio(&m.cfg); err != nil {
		return err
	}
	for i, d := range m.cfg.Disks {
		disk, err := blk.Open(d.Path, blk.Options{ReadOnly: d.ReadOnly})
		if err != nil {
			return fmt.Errorf("disk %d: %w", i, err)
		}
		m.virtio = append(m.virtio, &virtioDev{name: fmt.Sprintf("blk%d", i), dev: disk, close: disk.Close})
	}
	if err := m.openNets(); err != nil {
		return err
	}
	if err := m.openShares(); err != nil {
		return err
	}
	if m.cfg.RNG {
		m.virtio = append(m.virtio, &virtioDev{name: "rng", dev: rng.New()})
	}
	if m.cfg.Vsock != nil {
		if err := m.openVsock(m.cfg.Vsock); err != nil {
			return err
		}
	}
	for i, v := range m.virtio {
		var err error
		if v.addr, v.gsi, err = boot.VirtioMMIOSlot(i); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	return nil
}

// kernelCmdline is the configured command line with one
// virtio_mmio.device= entry per device appended (the guest kernel's
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES finds them there).
func (m *machine) kernelCmdline() (string, error) {
	parts := []string{m.cfg.Cmdline}
	for i := range m.virtio {
		p, err := boot.VirtioMMIOCmdline(i)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrConfig, err)
		}
		parts = append(parts, p)
	}
	return strings.TrimSpace(strings.Join(parts, " ")), nil
}

// attachVirtio wires every device: its transport on the MMIO bus, an irqfd
// for its interrupt and, where KVM has them, one ioeventfd per queue for a
// 4-byte write of the queue index to QueueNotify, so a guest kick wakes the
// queue's worker without an exit to the VMM. Without ioeventfds the kick
// exits and reaches the transport, which signals the same eventfd.
func (m *machine) attachVirtio() error {
	if len(m.virtio) == 0 {
		return nil
	}
	n, err := m.vm.CheckExtension(kvm.CapIOEventFD)
	ioeventfd := err == nil && n > 0
	for _, v := range m.virtio {
		if v.irq, err = newIRQLine(m.vm, v.gsi); err != nil {
			return fmt.Errorf("virtio %s: %w", v.name, err)
		}
		v.mmio, err = virtio.NewMMIO(v.dev, virtio.MMIOConfig{
			Mem:       m.mem,
			Interrupt: v.irq,
			OnError:   m.virtioFailed(v.name),
			Name:      v.name,
		})
		if err != nil {
			return fmt.Errorf("virtio %s: %w", v.name, err)
		}
		if err := m.mmio.Insert(uint64(v.addr), boot.VirtioMMIOStride, v.mmio, "virtio-"+v.name); err != nil {
			return err
		}
		if !ioeventfd {
			continue
		}
		for q, fd := range v.mmio.NotifyFDs() {
			e := kvm.IOEventFD{FD: fd, Addr: uint64(v.addr) + virtio.QueueNotifyOffset, Len: 4,
				Datamatch: uint64(q), HasDatamatch: true}
			if err := m.vm.RegisterIOEventFD(e); err != nil {
				return fmt.Errorf("virtio %s queue %d: %w", v.name, q, err)
			}
			v.ioevent = append(v.ioevent, e)
		}
	}
	return nil
}

// virtioFailed returns the host-error handler of a device: a backend or
// interrupt failure stops the VM with a named reason (STYLE 2.14).
func (m *machine) virtioFailed(name string) func(error) {
	return func(err error) {
		m.stop(&Exit{Reason: ReasonHostError, Message: fmt.Sprintf("virtio %s: %v", name, err), VCPU: -1})
	}
}

// closeVirtio tears the devices down once the vCPUs are gone: ioeventfds
// off first (KVM matches them by fd), then the transports (their workers
// stop and the devices reset), the backends and the irqfds.
func (m *machine) closeVirtio() error {
	var errs []error
	for _, v := range m.virtio {
		for _, e := range v.ioevent {
			errs = append(errs, m.vm.UnregisterIOEventFD(e))
		}
		if v.mmio != nil {
			errs = append(errs, v.mmio.Close())
		}
		if v.close != nil {
			errs = append(errs, v.close())
		}
		if v.irq != nil {
			errs = append(errs, v.irq.close(m.vm))
		}
	}
	m.virtio = nil
	return errors.Join(errs...)
}
