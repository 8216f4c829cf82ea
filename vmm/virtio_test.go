package vmm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/devices"
	"github.com/hullvm/hull/virtio"
)

// The transport is a bus device and the irqfd line a virtio interrupt,
// without either package importing the other.
var (
	_ devices.Device   = (*virtio.MMIO)(nil)
	_ virtio.Interrupt = (*irqLine)(nil)
	_ devices.Trigger  = (*irqLine)(nil)
)

func TestVirtioWindowIsTheSlot(t *testing.T) {
	if virtio.MMIOSize != boot.VirtioMMIOStride {
		t.Errorf("virtio.MMIOSize %#x, slot stride %#x", virtio.MMIOSize, boot.VirtioMMIOStride)
	}
}

func tempDisk(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenVirtioAndCmdline(t *testing.T) {
	a, b := tempDisk(t, "a.img"), tempDisk(t, "b.img")
	m := &machine{cfg: Config{Cmdline: "console=ttyS0 quiet", RNG: true,
		Disks: []Disk{{Path: a}, {Path: b, ReadOnly: true}}}}
	if err := m.openVirtio(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.closeVirtio(); err != nil {
			t.Error(err)
		}
	}()
	var names []string
	for i, v := range m.virtio {
		names = append(names, v.name)
		addr, gsi, _ := boot.VirtioMMIOSlot(i)
		if v.addr != addr || v.gsi != gsi {
			t.Errorf("%s at %#x IRQ %d, want slot %d (%#x IRQ %d)", v.name, uint64(v.addr), v.gsi, i, uint64(addr), gsi)
		}
	}
	if got := strings.Join(names, " "); got != "blk0 blk1 rng" {
		t.Errorf("devices %q", got)
	}
	cl, err := m.kernelCmdline()
	if err != nil {
		t.Fatal(err)
	}
	want := "console=ttyS0 quiet virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6 virtio_mmio.device=4K@0xc0003000:7"
	if cl != want {
		t.Errorf("cmdline\n%q, want\n%q", cl, want)
	}
}

func TestNoVirtioCmdlineUnchanged(t *testing.T) {
	m := &machine{cfg: Config{Cmdline: "console=ttyS0"}}
	if err := m.openVirtio(); err != nil {
		t.Fatal(err)
	}
	if cl, _ := m.kernelCmdline(); cl != "console=ttyS0" {
		t.Errorf("cmdline %q", cl)
	}
}

func TestVirtioConfigErrors(t *testing.T) {
	many := make([]Disk, boot.VirtioMMIOMaxDevices)
	for i := range many {
		many[i] = Disk{Path: "x"}
	}
	for _, c := range []struct {
		name string
		cfg  Config
		is   error
	}{
		{"too many devices", Config{Disks: many, RNG: true}, ErrConfig},
		{"empty path", Config{Disks: []Disk{{Path: ""}}}, ErrConfig},
		{"missing file", Config{Disks: []Disk{{Path: filepath.Join(t.TempDir(), "none")}}}, os.ErrNotExist},
	} {
		m := &machine{cfg: c.cfg}
		err := m.openVirtio()
		if !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
		if cerr := m.closeVirtio(); cerr != nil {
			t.Errorf("%s: close: %v", c.name, cerr)
		}
	}
}
