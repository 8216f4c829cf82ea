package vmm

import (
	"fmt"
	"os"

	vnet "github.com/hullvm/hull/virtio/net"
)

// Net is a virtio-net device on a host TAP interface (the guest's eth0,
// eth1, ... in Config.Nets order).
type Net struct {
	// Tap names the TAP interface: an existing one (ip tuntap add NAME
	// mode tap [user U]), configured by the host as it likes, or a new
	// one, which the VMM creates unconfigured and which disappears when
	// the VM stops.
	Tap string
	// File, when set, is a TAP attached elsewhere (/dev/net/tun after
	// TUNSETIFF with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR), such as one created
	// inside a container's network namespace (vmsandbox/tcnet). The VMM
	// uses a duplicate of its descriptor; the caller keeps File and closes
	// it after Run. Tap is then only a label for messages and for the
	// default MAC; it may be empty.
	File *os.File
	// MAC is the guest's address; zero: vnet.LocalMAC of the TAP's name,
	// a locally administered address that stays the same for the same
	// TAP name.
	MAC vnet.MAC
}

// checkNets validates Config.Nets.
func checkNets(nets []Net) error {
	seen := map[string]bool{}
	files := map[*os.File]bool{}
	for i, n := range nets {
		switch {
		case n.File != nil && files[n.File]:
			return fmt.Errorf("%w: net %d: the same TAP file is given twice", ErrConfig, i)
		case n.File != nil:
			files[n.File] = true
		case n.Tap == "":
			return fmt.Errorf("%w: net %d has no TAP name", ErrConfig, i)
		case seen[n.Tap]:
			return fmt.Errorf("%w: TAP %s is given twice (a TAP takes one device)", ErrConfig, n.Tap)
		}
		if n.File == nil {
			seen[n.Tap] = true
		}
		if n.MAC != (vnet.MAC{}) {
			if err := n.MAC.Check(); err != nil {
				return fmt.Errorf("%w: net %d: %v", ErrConfig, i, err)
			}
		}
	}
	return nil
}

// openNets attaches to (or creates) each TAP and adds its device after the
// disks; closeVirtio closes the device, and with it the TAP, after its
// transport.
func (m *machine) openNets() error {
	for i, n := range m.cfg.Nets {
		var (
			tap *vnet.TAP
			err error
		)
		if n.File != nil {
			tap, err = vnet.TAPFromFile(n.File)
		} else {
			tap, err = vnet.OpenTAP(n.Tap)
		}
		if err != nil {
			return fmt.Errorf("net %d: %w", i, err)
		}
		mac := n.MAC
		if mac == (vnet.MAC{}) {
			mac = vnet.LocalMAC(tap.Name())
		}
		name := fmt.Sprintf("net%d", i)
		dev, err := vnet.New(tap, vnet.Options{MAC: mac, OnError: m.virtioFailed(name)})
		if err != nil { // New closed the TAP
			return fmt.Errorf("net %d: %w", i, err)
		}
		m.virtio = append(m.virtio, &virtioDev{name: name, dev: dev, close: dev.Close})
	}
	return nil
}
