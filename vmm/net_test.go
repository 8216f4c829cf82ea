package vmm

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hullvm/hull/internal/testtier"
	vnet "github.com/hullvm/hull/virtio/net"
)

func TestNetConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		nets []Net
		is   error
	}{
		{"no TAP name", []Net{{}}, ErrConfig},
		{"same TAP twice", []Net{{Tap: "tap0"}, {Tap: "tap0"}}, ErrConfig},
		{"multicast MAC", []Net{{Tap: "tap0", MAC: vnet.MAC{1, 2, 3, 4, 5, 6}}}, ErrConfig},
		{"bad TAP name", []Net{{Tap: "a/b"}}, vnet.ErrTAPName},
		{"TAP name too long", []Net{{Tap: strings.Repeat("t", 16)}}, vnet.ErrTAPName},
	} {
		m := &machine{cfg: Config{Nets: c.nets}}
		if err := m.openVirtio(); !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
		if err := m.closeVirtio(); err != nil {
			t.Errorf("%s: close: %v", c.name, err)
		}
	}
}

// Slots: disks, then nets, then the RNG; a net without a MAC gets
// LocalMAC of its TAP's name.
func TestOpenVirtioWithNets(t *testing.T) {
	testtier.RequireRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no /dev/net/tun (the tun module is not loaded): %v", err)
	}
	mac := vnet.MAC{0x02, 1, 2, 3, 4, 5}
	m := &machine{cfg: Config{RNG: true, Disks: []Disk{{Path: tempDisk(t, "a.img")}},
		Nets: []Net{{Tap: "hullvmt0"}, {Tap: "hullvmt1", MAC: mac}}}}
	if err := m.openVirtio(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.closeVirtio(); err != nil {
			t.Error(err)
		}
	}()
	var names []string
	for _, v := range m.virtio {
		names = append(names, v.name)
	}
	if got := strings.Join(names, " "); got != "blk0 net0 net1 rng" {
		t.Errorf("devices %q", got)
	}
	if got := m.virtio[1].dev.(*vnet.Device).MAC(); got != vnet.LocalMAC("hullvmt0") {
		t.Errorf("net0 MAC %s, want LocalMAC(hullvmt0) %s", got, vnet.LocalMAC("hullvmt0"))
	}
	if got := m.virtio[2].dev.(*vnet.Device).MAC(); got != mac {
		t.Errorf("net1 MAC %s, want %s", got, mac)
	}
}
