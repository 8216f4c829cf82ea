package net

// virtio-net ABI (virtio 1.x §5.1, Linux include/uapi/linux/virtio_net.h)
// and the TAP offload flags (include/uapi/linux/if_tun.h, which
// golang.org/x/sys/unix does not carry), spelled as in the kernel headers.
//
//nolint:revive,stylecheck // kernel spellings on purpose (STYLE 2.3)
const (
	// Feature bits, as bit numbers.
	VIRTIO_NET_F_CSUM       = 0  // device handles packets with a partial checksum
	VIRTIO_NET_F_GUEST_CSUM = 1  // driver handles packets with a partial checksum
	VIRTIO_NET_F_MTU        = 3  // not offered
	VIRTIO_NET_F_MAC        = 5  // config.mac is valid
	VIRTIO_NET_F_GUEST_TSO4 = 7  // driver takes TSOv4 in
	VIRTIO_NET_F_GUEST_TSO6 = 8  // driver takes TSOv6 in
	VIRTIO_NET_F_GUEST_ECN  = 9  // driver takes TSO with ECN in
	VIRTIO_NET_F_GUEST_UFO  = 10 // not offered
	VIRTIO_NET_F_HOST_TSO4  = 11 // device takes TSOv4 from the driver
	VIRTIO_NET_F_HOST_TSO6  = 12 // device takes TSOv6 from the driver
	VIRTIO_NET_F_HOST_ECN   = 13 // device takes TSO with ECN from the driver
	VIRTIO_NET_F_HOST_UFO   = 14 // not offered
	VIRTIO_NET_F_MRG_RXBUF  = 15 // a received frame may span several rx chains
	VIRTIO_NET_F_STATUS     = 16 // config.status is valid
	VIRTIO_NET_F_CTRL_VQ    = 17 // not offered: no control queue
	VIRTIO_NET_F_MQ         = 22 // not offered: one rx/tx pair

	// config.status bits.
	VIRTIO_NET_S_LINK_UP  = 1
	VIRTIO_NET_S_ANNOUNCE = 2

	// struct virtio_net_hdr_v1.flags
	VIRTIO_NET_HDR_F_NEEDS_CSUM = 1 // checksum from csum_start, at csum_offset, still to do
	VIRTIO_NET_HDR_F_DATA_VALID = 2 // checksum already checked (device to driver)
	VIRTIO_NET_HDR_F_RSC_INFO   = 4

	// struct virtio_net_hdr_v1.gso_type
	VIRTIO_NET_HDR_GSO_NONE  = 0
	VIRTIO_NET_HDR_GSO_TCPV4 = 1
	VIRTIO_NET_HDR_GSO_UDP   = 3
	VIRTIO_NET_HDR_GSO_TCPV6 = 4
	VIRTIO_NET_HDR_GSO_ECN   = 0x80

	// TUNSETOFFLOAD flags: what the reader of the TAP (the guest, here)
	// takes. The TAP always takes offloaded frames written to it.
	TUN_F_CSUM    = 0x01
	TUN_F_TSO4    = 0x02
	TUN_F_TSO6    = 0x04
	TUN_F_TSO_ECN = 0x08
	TUN_F_UFO     = 0x10
)

// HdrLen is the size of struct virtio_net_hdr_v1 (the mergeable-buffers
// header, which VIRTIO_F_VERSION_1 makes the only one, §5.1.6): flags u8,
// gso_type u8, le16 hdr_len, gso_size, csum_start, csum_offset,
// num_buffers. It leads every frame in both directions and on the TAP
// (IFF_VNET_HDR with TUNSETVNETHDRSZ 12).
const HdrLen = 12

// Offsets in struct virtio_net_hdr_v1.
const (
	hdrFlags      = 0
	hdrGSOType    = 1
	hdrNumBuffers = 10
)

// MaxFrame is the largest Ethernet frame, header excluded, the device
// passes in either direction: a 64 KiB GSO frame plus its Ethernet header
// (Linux's GSO_MAX_SIZE + ETH_HLEN, Firecracker's and QEMU's limit).
const MaxFrame = 65550

// ethHLen is the Ethernet header: a transmitted frame must hold one.
const ethHLen = 14

// Offsets in struct virtio_net_config (§5.1.4). Only mac and status are
// announced (F_MAC, F_STATUS); max_virtqueue_pairs reads 1.
const (
	cfgMAC               = 0 // u8[6]
	cfgStatus            = 6 // le16
	cfgMaxVirtqueuePairs = 8 // le16
	cfgMTU               = 10
	configSize           = 12 // up to and with mtu, which reads 0 (F_MTU is not offered)
)

// Queue indexes (§5.1.2): receiveq1, transmitq1. No control queue.
const (
	rxq = 0
	txq = 1
)
