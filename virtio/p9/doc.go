// Package p9 is virtio-9p (virtio 1.x §5.x, "9P transport"): it serves a
// host directory, such as a container bundle's rootfs, to the guest as
// 9P2000.L, with the 9P server of github.com/hugelgupf/p9 and a file
// server of its own that never reaches outside the directory.
//
//	dev, err := p9.New("/run/bundle/rootfs", p9.Options{Tag: "rootfs", ReadOnly: true})
//	if err != nil { ... }
//	defer dev.Close() // after the transport's Close
//	t, err := virtio.NewMMIO(dev, virtio.MMIOConfig{Mem: mem, Interrupt: irq, Name: "9p0"})
//	// put t on the MMIO bus; in the guest:
//	//   mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 rootfs /mnt
//
// # Transport
//
// One request queue; each chain is a T-message (readable) and room for
// its R-message (writable). The configuration space is the mount tag
// (VIRTIO_9P_MOUNT_TAG). Requests run concurrently and complete in any
// order: the device forwards each checked T-message to the server over an
// in-memory pipe under a tag of its own and puts each reply in the chain
// that tag stands for (session.go). What the device answers or changes
// itself, before the server sees a message, is listed in request.go:
// messages are bounded by the negotiated msize (at most
// Options.MaxMessageSize, DefaultMaxMessageSize: a larger Tversion is
// agreed at that size), malformed ones get Rlerror, never a panic.
//
// # The file server
//
// Every file is an O_PATH descriptor; a walk opens one name at a time
// from its directory's descriptor with O_NOFOLLOW, and names are never
// ".", ".." or contain '/': no guest path resolves on the host, symbolic
// links (absolute or relative, pointing anywhere) are served as links for
// the guest to resolve and never followed here, and nothing above the
// shared directory can be named (fs.go). Only regular files and
// directories are opened (a device node in the tree is the guest kernel's
// business, never a host device); device nodes cannot be made. A
// read-only share answers every change EROFS. Extended attributes are not
// supported (EOPNOTSUPP); POSIX locks are granted (the guest is the one
// client). Files the guest makes belong to the VMM's user: the server
// does not pass the attaching user down.
//
// # Errors
//
// Guest input is hostile: every length is checked against the chain and
// msize, every field against the message before the server decodes it.
// The server losing the connection (which the checks should make
// impossible) sets DEVICE_NEEDS_RESET; a reset starts a new session with
// no fids. A reply the server frames wrongly or an interrupt that cannot
// be raised is a host failure: it goes to Options.OnError and Kick, and
// the VMM stops the VM.
//
// # Snapshots
//
// Pause waits until the requests in flight are answered. SaveState refuses
// (ErrInUse, naming the tag and the count) while the guest holds fids: open
// files cannot be saved. Without fids a restored share may serve another
// directory under the same tag (state.go).
package p9
