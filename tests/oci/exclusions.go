package oci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// ProcessSandboxExclusions lists the programs runc passes that hull's
// process sandbox (--sandbox=process) need not pass, with the reason. The
// process sandbox runs containers as host processes, as runc does, so
// every other program runc passes, it must pass too.
var ProcessSandboxExclusions = map[string]string{
	"linux_cgroups_cpus": "reads /sys/fs/cgroup/{cpu,cpuset}/cgrouptest: cgroup v1 files (runtime-tools knows no v2); " +
		"hull manages cgroup v2 only (agent/cgroup) and does not write v1 hierarchies",
	"linux_cgroups_relative_cpus": "the same cgroup v1 cpu and cpuset files, found through /proc/<pid>/cgroup: cgroup v2 only in hull",
}

// VMSandboxExclusions lists the programs runc passes (docs/CONFORMANCE.md)
// that a runtime running each container in its own microVM cannot pass
// for real, because they inspect the container from the host through
// state.pid, and on the vm sandbox state.pid is the VMM process
// (DESIGN.md §2, "The container's host process"). A VMM could satisfy
// some of them by changing itself (unsharing, setns-ing, joining host
// cgroups), which says nothing about the container in the guest.
var VMSandboxExclusions = map[string]string{
	"linux_ns_nopath": "wants /proc/<state.pid>/ns/{cgroup,ipc,mnt,net,pid,user,uts} each to differ from the test's own: " +
		"the container's namespaces live in the guest kernel; only a VMM that unshares all seven itself (a user namespace mapping host uid 1000 to 0) passes",
	"linux_ns_path": "wants /proc/<state.pid>/ns/{ipc,mnt,net,pid,uts} to be the host namespaces named by path (made by `unshare`): " +
		"a guest cannot join host namespaces; only a VMM that setns()es into them (and is forked after setns for pid) passes",
	"linux_cgroups_cpus": "reads cpu.shares, cpu.cfs_*, cpuset.* under /sys/fs/cgroup/{cpu,cpuset}/cgrouptest on the host (cgroup v1): " +
		"passes only if hull applies linux.resources to a host cgroup holding the VMM; drop this entry if it does",
	"linux_cgroups_relative_cpus": "finds the cpu and cpuset cgroups of state.pid in /proc/<pid>/cgroup and wants testdir/cgrouptest/container in their paths with the limits set: " +
		"passes only if the VMM is placed in that host cgroup with the limits applied; drop this entry if it is",
}

// CheckVerbs reports whether the runtime binary at path has the OCI verbs
// yet: `path create --help` must exit 0. The error says why not, in one
// line, for a skip message.
func CheckVerbs(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no %s (make build): %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "create", "--help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s has no OCI verbs yet: `%s create --help`: %v: %s", path, path, err, summary(out))
	}
	return nil
}
