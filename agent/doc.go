// Package agent is hull-agent, the guest's init (PID 1), and the Server that
// creates containers from OCI configs over the agent protocol (DESIGN.md §2).
//
// What it does so far, in this order (Start):
//
//  1. mounts /proc, /sys, devtmpfs on /dev, /dev/pts and a tmpfs on /tmp
//     (BaseMounts; a failure of the first three stops the boot);
//  2. reads the kernel command line (ParseCmdline): hull.hostname=NAME,
//     hull.agent.exit=ready, hull.agent.shell=1;
//  3. sets the hostname (default "hull") and brings up lo;
//  4. listens on vsock ports 1024 (the line protocol, control.go) and
//     1025 (the container protocol, agent/proto, served by a Server) when
//     the guest has a virtio-vsock device (one line on the console when it
//     has none);
//  5. writes the boot timer: the byte 123 at guest-physical 0xc0000000
//     through /dev/mem, which the VMM records as "boot timer" (a failure is
//     logged, not fatal);
//  6. prints "hull-agent ready" on the console.
//
// Then it powers the VM off at once (hull.agent.exit=ready), runs a debug
// shell on the serial console and powers off when it exits
// (hull.agent.shell=1), or serves the host until a "poweroff" request on the
// control connection (control.go) or a "shutdown" request of the container
// protocol; a container that exits does not end the VM. Powering off is
// reboot(LINUX_REBOOT_CMD_RESTART): the guest has no ACPI, so the kernel
// runs with reboot=k (i8042 reset, which hull treats as the end of the VM)
// or reboot=t (triple fault; QEMU with -no-reboot exits).
//
// As PID 1 it reaps every orphan (reaper_linux.go) and hands the container
// code the statuses of its processes (container.Reaper), never exits (a
// panic is printed and the VM is rebooted), and refuses to run as any other
// PID, so starting it on a host by mistake does nothing. Run as
// `hull-agent __init` (InitVerb) it is a container's init half instead.
//
// The Server (server.go, stream.go, rootfs9p.go) answers the container
// protocol: in the guest behind vsock, and on the host for the process
// sandbox (sandbox_linux.go). With stdio "stream" it keeps each process's
// pipes (or pty) until a stream connection attaches; with a rootfsTag it
// mounts the container's virtio-9p root; with a network (protocol 1.2,
// netconf.go) it names, addresses and brings up the guest's NICs and adds
// the routes before the first container, which shares the guest's network
// namespace when its config names the host's by path.
//
// The host-testable logic (command-line parsing, the mount table, the
// start-up sequence, the control protocol, the device probe) is plain Go
// behind the System interface; linuxSystem in system_linux.go is the only
// part that needs PID 1 in a guest.
package agent
