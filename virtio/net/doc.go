// Package net is virtio-net (virtio 1.x §5.1) over a TAP interface: one
// receive and one transmit queue, no control queue.
//
//	tap, err := net.OpenTAP("tap0") // an existing TAP, or a new one
//	if err != nil { ... }
//	dev, err := net.New(tap, net.Options{MAC: net.LocalMAC("tap0")})
//	if err != nil { ... } // New owns tap from here on
//	defer dev.Close()   // after the transport's Close
//	t, err := virtio.NewMMIO(dev, virtio.MMIOConfig{Mem: mem, Interrupt: irq, Name: "net0"})
//	// put t on the MMIO bus; the guest sees eth0 with that MAC
//
// # Frames and features
//
// Every frame carries the 12-byte virtio_net_hdr_v1 (VIRTIO_F_VERSION_1
// is always negotiated), and so does the TAP (IFF_VNET_HDR,
// TUNSETVNETHDRSZ 12): headers pass through unchanged both ways, but for
// num_buffers, which the device sets, and flags, which a driver without
// GUEST_CSUM gets as zero. Offered: VIRTIO_NET_F_MAC, STATUS (the link is
// always up), MRG_RXBUF, and where the backend takes them
// (Backend.Offloads: a TUNSETOFFLOAD probe at OpenTAP) CSUM, GUEST_CSUM,
// HOST_TSO4/6, GUEST_TSO4/6, HOST_ECN and GUEST_ECN. At activation the
// TAP is told what the driver takes (TUN_F_CSUM for GUEST_CSUM, TSO for
// GUEST_TSO4/6, TSO_ECN for GUEST_ECN: see backendOffload), at reset
// nothing. UFO is not offered: Linux dropped it, and its TAP accepts
// TUN_F_UFO only to ignore it.
//
// # Transmit
//
// The transmit queue's worker writes each chain to the backend straight
// from guest memory (one writev; the header goes from a copy checked
// against the negotiated offloads). Dropped and counted in Stats: chains
// shorter than the header and an Ethernet header (TxShort), frames over
// MaxFrame (TxTooBig), headers asking for an offload that was not
// negotiated (TxBadHeader), frames the backend refuses (TxDropped: a TAP
// that is down answers EIO, a GSO header the kernel finds inconsistent
// EINVAL). The chain is returned with length 0 either way.
//
// # Receive
//
// One goroutine per activation owns the receive queue; the backend
// becoming readable and the driver posting buffers (its kick) both wake
// it (see receiver). Each frame is read into a 64 KiB bounce buffer and
// copied into the driver's buffers: one chain per frame without
// MRG_RXBUF (a frame larger than the chain is dropped, RxTooBig, and the
// chain kept for the next), as few chains as hold it with MRG_RXBUF
// (num_buffers says how many). A frame's chains go back to the driver
// together, with one used.idx store (virtio.Queue.PushUsedBatch): a
// driver polling the used ring never finds part of a frame, so TSO frames
// of up to 64 KiB reach a driver with mergeable buffers whole. A frame
// for which the driver has not posted enough buffers waits, not dropped;
// it is dropped only when it can never fit (larger than MaxFrame, or than
// all the buffers a full queue holds). Receive chains with no room for
// the header come back with length 0 (RxBadBuffer).
//
// Pause (virtio.Pauser) stops the receive loop and gives the chains held
// for a waiting frame back empty; the frame stays for Resume. A snapshot
// keeps the MAC (state.go): a restored device answers with the saved
// address whatever it was created with, over a new backend whose offloads
// must cover what the driver accepted.
//
// # Errors
//
// Guest input is hostile: malformed chains are failed by virtio.Queue (or
// NEEDS_RESET set), frames are bounded, every copy goes through guestmem.
// Host failures (a backend read error, an interrupt that cannot be raised,
// a write on a closed TAP) stop the device and go to Options.OnError and
// Kick, and the VMM stops the VM.
package net
