package runtime

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/vmsandbox/tcnet"
)

// The vm sandbox's networking (the "tcfilter" model, package
// vmsandbox/tcnet): when config.json names a network namespace by path
// (as CNI and containerd's CRI do), the VMM passes that namespace's
// interfaces on to the guest through a TAP and tc redirects, and the
// container shares the guest's network namespace.

// NetnsPath returns the path of the network namespace the config joins,
// "" when it joins none (no network entry, or one without a path: a new,
// empty namespace).
func NetnsPath(s *specs.Spec) string {
	if s == nil || s.Linux == nil {
		return ""
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			return n.Path
		}
	}
	return ""
}

// vmNetCleanupWait bounds the wait for a killed VMM's TAP to vanish (it
// goes with the VMM's last thread).
const vmNetCleanupWait = 10 * time.Second

// cleanupVMNetwork removes what a vm sandbox's VMM left in the container's
// network namespace when it could not clean up itself (killed with
// SIGKILL): tc redirects to its vanished TAP.
func (r *Runtime) cleanupVMNetwork(rec *Record, spec *specs.Spec) {
	if rec.Sandbox != SandboxVM {
		return
	}
	if path := NetnsPath(spec); path != "" {
		if err := tcnet.Cleanup(path, vmNetCleanupWait); err != nil {
			r.log().Warn("cleaning up the network namespace", "id", rec.ID, "netns", path, "err", err)
		}
	}
}
