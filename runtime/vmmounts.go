package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/agent/container"
)

// Bind mounts in the vm sandbox. A bind mount's source is a path on the
// host (Docker's /etc/hosts and volumes, Kubernetes' service-account
// token), which the guest cannot see. The VMM process runs in a mount
// namespace of its own (Create unshares it), bind-mounts each source on
// <dir>/mounts/<n>/<name> there, and serves <dir>/mounts as the virtio-9p share
// MountsTag; the agent mounts that share and binds <share>/<n>/<name> where the
// config says. The host's own mount namespace never has those mounts, so
// deleting the state directory cannot reach into a source.

// MountsTag is the mount tag of the share holding a VM container's bind
// mount sources; MountsDir its directory under the state directory.
const (
	MountsTag = "mounts"
	MountsDir = "mounts"
	// VMMountNSFlag tells the VMM process that it runs in a mount
	// namespace of its own, where it may bind the sources.
	VMMountNSFlag = "own-mount-ns"
)

// HostBind is one of the config's bind mounts whose source the VMM
// serves from the host.
type HostBind struct {
	Index  int    // in spec.Mounts
	Source string // absolute host path
	Dir    bool   // a directory, else a regular file
	// Recursive (rbind) also binds the mounts below Source.
	Recursive bool
	ReadOnly  bool
}

// Name is the bind's entry in the mounts share: "<index>/<the source's
// base name>", so that in the guest the bind's root (mountinfo) ends in
// the source's name, as on the host (runtime-tools checks it).
func (b HostBind) Name() string {
	base := filepath.Base(b.Source)
	if base == "/" {
		base = "root"
	}
	return fmt.Sprintf("%d/%s", b.Index, base)
}

// VMHostBinds returns the bind mounts of s whose sources the vm sandbox
// takes from the host: directories and regular files (relative sources are
// the bundle's). Sources of other kinds (device nodes such as /dev/null,
// sockets) stay the guest's own. A source that does not exist is an error,
// as with runc.
func VMHostBinds(s *specs.Spec, bundle string) ([]HostBind, error) {
	var out []HostBind
	for i, m := range s.Mounts {
		bind, rec, ro, err := container.BindMount(m)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
		if !bind {
			continue
		}
		src := m.Source
		if src == "" {
			return nil, fmt.Errorf("mounts[%d] (%s): a bind mount needs a source", i, m.Destination)
		}
		if !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d]: bind mount source: %w", i, err)
		}
		if !st.IsDir() && !st.Mode().IsRegular() {
			continue
		}
		out = append(out, HostBind{Index: i, Source: filepath.Clean(src), Dir: st.IsDir(), Recursive: rec, ReadOnly: ro})
	}
	return out, nil
}

// hasHostBinds says whether s has a bind mount the VMM must serve; an
// error (a missing source) is create's to report.
func hasHostBinds(s *specs.Spec, bundle string) (bool, error) {
	b, err := VMHostBinds(s, bundle)
	return len(b) > 0, err
}
