package net

// Backend carries the device's frames to and from the host: a TAP device
// (OpenTAP) in the VMM, a socket pair in tests. Every frame, in both
// directions, starts with the 12-byte virtio_net_hdr_v1 (HdrLen), which
// passes through unchanged but for the fields the device must set
// (num_buffers, and flags for a driver without GUEST_CSUM).
//
// The device owns its backend: Device.Close closes it. Read and Write are
// called from different goroutines (the receive loop, the transmit queue's
// worker), never each concurrently with itself.
type Backend interface {
	// FD is a non-blocking descriptor that polls readable (EPOLLIN) when
	// Read has a frame. The device waits on it edge-triggered, so Read
	// must be called until it returns unix.EAGAIN.
	FD() int
	// Read reads one frame into p and returns its length, or unix.EAGAIN
	// when no frame waits. A frame longer than p is cut to len(p), and n
	// is then the frame's full length (a TAP) or len(p) (a socket): the
	// device gives it buffers one byte longer than the largest frame it
	// passes and drops anything that fills them.
	Read(p []byte) (int, error)
	// Write sends one frame gathered from iov (which aliases guest
	// memory). Errors are per frame: the device drops the frame and counts
	// it, except for unix.EBADF and unix.EBADFD, which mean the backend is
	// gone (a host failure: the VM stops).
	Write(iov [][]byte) (int, error)
	// Offloads returns the TUN_F_* flags SetOffload accepts: the
	// device offers the matching features (TUN_F_CSUM: VIRTIO_NET_F_CSUM
	// and GUEST_CSUM; TUN_F_TSO4: HOST_TSO4 and GUEST_TSO4; ...).
	Offloads() uint32
	// SetOffload says which offloaded frames Read may return: frames with
	// a partial checksum (TUN_F_CSUM), TSO frames (TUN_F_TSO4, ...). The
	// device sets what the driver accepted at activation and 0 at reset.
	SetOffload(flags uint32) error
	// Close releases the backend.
	Close() error
}
