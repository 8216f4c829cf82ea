package vmm

import (
	"fmt"

	vp9 "github.com/hullvm/hull/virtio/p9"
)

// Share is a host directory served to the guest over virtio-9p, such as a
// container bundle's rootfs; the guest mounts it by its tag:
//
//	mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 TAG DIR
//
// Nothing outside Path is reachable through it (symbolic links are the
// guest's to resolve, never followed on the host); a ReadOnly share
// refuses every change with EROFS (package virtio/p9).
type Share struct {
	Tag      string // the mount tag: letters, digits, '.', '_', '-'
	Path     string // the host directory
	ReadOnly bool
}

// checkShares validates Config.Shares: each has a valid tag, unique among
// them, and a path.
func checkShares(shares []Share) error {
	seen := map[string]bool{}
	for i, s := range shares {
		if err := vp9.CheckTag(s.Tag); err != nil {
			return fmt.Errorf("%w: share %d: %v", ErrConfig, i, err)
		}
		if seen[s.Tag] {
			return fmt.Errorf("%w: share tag %q is given twice", ErrConfig, s.Tag)
		}
		seen[s.Tag] = true
		if s.Path == "" {
			return fmt.Errorf("%w: share %q has no path", ErrConfig, s.Tag)
		}
	}
	return nil
}

// openShares opens each shared directory and adds its device after the
// network devices; closeVirtio closes it after its transport.
func (m *machine) openShares() error {
	for i, s := range m.cfg.Shares {
		name := fmt.Sprintf("9p%d", i)
		dev, err := vp9.New(s.Path, vp9.Options{Tag: s.Tag, ReadOnly: s.ReadOnly, OnError: m.virtioFailed(name)})
		if err != nil {
			return fmt.Errorf("share %q: %w", s.Tag, err)
		}
		m.virtio = append(m.virtio, &virtioDev{name: name, dev: dev, close: dev.Close})
	}
	return nil
}
