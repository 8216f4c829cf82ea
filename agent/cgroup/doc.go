// Package cgroup manages the cgroup v2 (unified hierarchy) cgroup of one
// container: creating it with the controllers its parents can delegate,
// applying an OCI specs.LinuxResources, adding processes, freezing,
// listing, killing, statistics and removal.
//
//	cg, err := cgroup.New(spec.Linux.CgroupsPath) // or cgroup.DefaultPath(id)
//	if err != nil { ... }                         // ErrNoCgroup2 on v1/hybrid hosts
//	if err := cg.Apply(spec.Linux.Resources); err != nil { ... }
//	if err := cg.AddProc(pid); err != nil { ... }
//	...
//	_ = cg.Freeze() // pause;  cg.Thaw() resumes
//	pids, _ := cg.Procs()
//	_ = cg.Kill()
//	_ = cg.Delete()
//
// Paths follow runc (see Resolve): an absolute cgroupsPath is taken from the
// hierarchy's root, a relative one from the parent of the caller's own
// cgroup, and "slice:prefix:name" (--systemd-cgroup) becomes the path
// systemd would give that scope. hull talks to no systemd: it only creates
// the directory.
//
// The hierarchy's mount point is a field (WithRoot), so the unit tests run
// against a plain directory holding fake interface files; the host tier
// tests the real /sys/fs/cgroup.
//
// Not done: device access rules (cgroup v2 needs an eBPF program; the VM
// sandbox only gives the guest the devices hull chose), v1-only settings
// (kernel memory, swappiness, OOM-killer switch, CFQ leaf weight, realtime
// CPU, net_cls/net_prio) which are ignored, except realtime CPU limits,
// which are refused.
package cgroup
