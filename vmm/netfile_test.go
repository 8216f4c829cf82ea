package vmm

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
	vnet "github.com/hullvm/hull/virtio/net"
)

// Net.File: a TAP attached elsewhere (vmsandbox/tcnet makes one inside a
// container's network namespace).

func TestNetFileConfigErrors(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name string
		nets []Net
		is   error
	}{
		{"same file twice", []Net{{File: f}, {File: f}}, ErrConfig},
		{"not a TAP", []Net{{Tap: "tap0_hull", File: f}}, vnet.ErrNotTAP},
	} {
		m := &machine{cfg: Config{Nets: c.nets}}
		if err := m.openVirtio(); !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
		if err := m.closeVirtio(); err != nil {
			t.Errorf("%s: close: %v", c.name, err)
		}
	}
	if _, err := f.Stat(); err != nil {
		t.Errorf("the caller's file was closed: %v", err)
	}
}

// A File net becomes a device on a duplicate: the caller's file stays
// open after the VMM closed its devices, and a zero MAC is LocalMAC of
// the TAP's name.
func TestOpenVirtioWithNetFile(t *testing.T) {
	testtier.RequireRoot(t)
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no /dev/net/tun (the tun module is not loaded): %v", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/net/tun")
	defer f.Close()
	ifr, _ := unix.NewIfreq("hullvmf%d")
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Fatal(err)
	}
	name := ifr.Name()
	m := &machine{cfg: Config{Nets: []Net{{File: f}}}}
	if err := m.openVirtio(); err != nil {
		t.Fatal(err)
	}
	if got := m.virtio[0].dev.(*vnet.Device).MAC(); got != vnet.LocalMAC(name) {
		t.Errorf("MAC %s, want LocalMAC(%s) %s", got, name, vnet.LocalMAC(name))
	}
	if err := m.closeVirtio(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err != nil {
		t.Errorf("the caller's file was closed: %v", err)
	}
}
