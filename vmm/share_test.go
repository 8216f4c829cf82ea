package vmm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/virtio"
)

func TestSharesSlotOrder(t *testing.T) {
	dir := t.TempDir()
	m := &machine{cfg: Config{RNG: true,
		Disks:  []Disk{{Path: tempDisk(t, "a.img")}},
		Shares: []Share{{Tag: "rootfs", Path: dir, ReadOnly: true}, {Tag: "data", Path: dir}}}}
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
		if addr, _, _ := boot.VirtioMMIOSlot(i); v.addr != addr {
			t.Errorf("%s at %#x, want slot %d", v.name, uint64(v.addr), i)
		}
	}
	if got := strings.Join(names, " "); got != "blk0 9p0 9p1 rng" {
		t.Errorf("devices %q, want disks, shares, rng", got)
	}
	if typ := m.virtio[1].dev.Type(); typ != virtio.VIRTIO_ID_9P {
		t.Errorf("9p0 has device type %d", typ)
	}
}

func TestShareConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		shares []Share
		is     error
	}{
		{"no tag", []Share{{Path: dir}}, ErrConfig},
		{"bad tag", []Share{{Tag: "a b", Path: dir}}, ErrConfig},
		{"tag twice", []Share{{Tag: "x", Path: dir}, {Tag: "x", Path: dir}}, ErrConfig},
		{"no path", []Share{{Tag: "x"}}, ErrConfig},
		{"missing directory", []Share{{Tag: "x", Path: filepath.Join(dir, "none")}}, os.ErrNotExist},
	} {
		m := &machine{cfg: Config{Shares: c.shares}}
		err := m.openVirtio()
		if !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
		if cerr := m.closeVirtio(); cerr != nil {
			t.Errorf("%s: close: %v", c.name, cerr)
		}
	}
}
