package vmm

import (
	"fmt"

	"github.com/hullvm/hull/virtio/vsock"
)

// Vsock is a virtio-vsock device with Firecracker's hybrid host side: host
// programs connect to UDSPath and write "CONNECT <port>\n"; the guest's
// connections to host port P go to the Unix socket "<UDSPath>_<P>".
type Vsock struct {
	CID     uint64 // the guest's context ID, 3 or more
	UDSPath string // created by the VMM; must not exist
}

// openVsock creates the vsock device (its listener on v.UDSPath) and adds
// it after the other virtio devices; closeVirtio closes it after its
// transport, which removes the socket file.
func (m *machine) openVsock(v *Vsock) error {
	dev, err := vsock.New(v.CID, v.UDSPath)
	if err != nil {
		return fmt.Errorf("%w: vsock: %v", ErrConfig, err)
	}
	m.virtio = append(m.virtio, &virtioDev{name: "vsock", dev: dev, close: dev.Close})
	return nil
}
