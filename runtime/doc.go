// Package runtime is hull's OCI runtime: the state directory (--root), the
// container lifecycle runc's CLI exposes (create, start, state, kill,
// delete, exec, ps, pause, resume), host hooks, and two sandboxes
// (DESIGN.md §2):
//
//   - vm (the default, vmsandbox.go here and package vmsandbox): each container in its own
//     microVM booted from the default guest image. Its host process
//     (`hull __vm-sandbox`) is the VMM; the bundle's rootfs is a virtio-9p
//     share; hull-agent, PID 1 of the guest, creates the container and is
//     reached over vsock port 1025 through the VMM's hybrid socket.
//   - process (sandbox.go): `hull __agent`, the same agent code, runs on
//     the host in the container's namespaces and creates the container as
//     host processes, reached over a Unix socket.
//
// Both speak agent/proto (docs/agent-protocol.md). A sandbox is chosen
// explicitly and never falls back to the other.
package runtime
