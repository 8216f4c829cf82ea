// Package vsock is virtio-vsock (virtio 1.x §5.10) with Firecracker's
// hybrid host side: the guest's AF_VSOCK stream sockets reach host
// programs over Unix sockets.
//
//	dev, err := vsock.New(3, "/run/vm1/vsock.sock") // guest CID 3
//	if err != nil { ... }
//	defer dev.Close()
//	t, err := virtio.NewMMIO(dev, virtio.MMIOConfig{Mem: mem, Interrupt: irq, Name: "vsock"})
//	// put t on the MMIO bus; the guest sees /dev/vsock (vmw_vsock_virtio_transport)
//
// Host to guest: a host program connects to the device's socket (udsPath)
// and writes "CONNECT <port>\n"; the device sends a connection REQUEST to
// that guest port from a host port it picks (from 1<<30 up, as
// Firecracker); when the guest accepts (RESPONSE) the program reads
// "OK <hostport>\n" and the socket then carries the stream both ways. A
// guest refusal (RST) closes the socket.
//
// Guest to host: a guest connection to host CID 2, port P, is connected to
// the Unix socket "<udsPath>_<P>"; when nothing listens there the guest
// gets RST (ECONNRESET / ECONNREFUSED in the guest).
//
// Flow control is credit based both ways (§5.10.6.3): the device never
// sends the guest more than its advertised buf_alloc minus what it has not
// yet consumed (fwd_cnt), and advertises BufAlloc bytes of its own per
// connection, holding what the host socket cannot take at once; a guest
// that overruns that credit gets its connection reset. CREDIT_REQUEST is
// answered; a CREDIT_UPDATE is sent unasked when the guest's view of the
// free space falls below one maximal packet and real space was freed.
//
// Handshakes are bounded in time (Options): a host client that does not
// send its CONNECT line within ConnectTimeout is closed, and one whose
// REQUEST the guest does not answer within RequestTimeout of seeing it is
// closed (EOF instead of "OK") while the guest gets RST; both default to
// 2 s and are counted in Stats. TransportReset sends the guest
// VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue (for the VMM after
// a snapshot restore) and closes the host side of every connection. A
// device restored from a snapshot (state.go) queues that event itself when
// its transport activates it: host connections do not survive a snapshot,
// and the guest resets its sockets and re-reads its CID, which may be new.
//
// Everything the guest sends is hostile: the 44-byte header is parsed from
// a copy and checked (source CID, destination CID 2, type STREAM, a known
// op, a length within the chain and VIRTIO_VSOCK_MAX_PKT_BUF_SIZE); bad
// packets are counted in Stats and answered RST (or dropped, for a wrong
// source CID, as Firecracker does). At most MaxConns connections exist at
// a time; beyond that host clients are closed and guest requests reset.
//
// # Concurrency
//
// One goroutine, the muxer, owns everything: the three queues (from
// Activate to Reset), every connection and its host socket. It waits on
// one epoll instance holding the listening socket, every connection's
// socket (edge-triggered: each connection remembers whether it is readable
// and writable until a read or write says EAGAIN) and an eventfd; it parks
// in Go's netpoller on that epoll fd, so it holds no thread while idle.
// The queue workers' Kick only records the queue in an atomic bit set and
// signals that eventfd, a counter, so no kick is lost; Activate, Reset and
// Close (and Pause, Resume: a paused muxer serves its host sockets but
// leaves the queues alone) hand a command to the muxer the same way and
// wait for it. Host data is
// read straight into the guest's rx buffers and guest data written
// straight from its tx buffers (readv/sendmsg on guest memory; one readv
// fills up to 16 rx buffers); only what a host socket cannot take at once
// is copied into the connection's buffer. No polling: one Go timer, armed
// only while a handshake is pending, wakes the muxer through the same
// eventfd for the earliest handshake deadline (timeout.go).
package vsock
