package vsock

import "encoding/binary"

// ABI constants of virtio-vsock (virtio 1.x §5.10), spelled as in Linux's
// include/uapi/linux/virtio_vsock.h and linux/vm_sockets.h.
//
//nolint:revive,stylecheck // kernel spellings on purpose (STYLE 2.3)
const (
	// Packet types (struct virtio_vsock_hdr.type).
	VIRTIO_VSOCK_TYPE_STREAM    = 1
	VIRTIO_VSOCK_TYPE_SEQPACKET = 2 // not offered (no VIRTIO_VSOCK_F_SEQPACKET)

	// Operations (struct virtio_vsock_hdr.op).
	VIRTIO_VSOCK_OP_INVALID        = 0
	VIRTIO_VSOCK_OP_REQUEST        = 1
	VIRTIO_VSOCK_OP_RESPONSE       = 2
	VIRTIO_VSOCK_OP_RST            = 3
	VIRTIO_VSOCK_OP_SHUTDOWN       = 4
	VIRTIO_VSOCK_OP_RW             = 5
	VIRTIO_VSOCK_OP_CREDIT_UPDATE  = 6
	VIRTIO_VSOCK_OP_CREDIT_REQUEST = 7

	// Flags of VIRTIO_VSOCK_OP_SHUTDOWN: the sender will receive / send
	// no more.
	VIRTIO_VSOCK_SHUTDOWN_RCV  = 1
	VIRTIO_VSOCK_SHUTDOWN_SEND = 2

	// Feature bit numbers (§5.10.3); none is offered: stream only.
	VIRTIO_VSOCK_F_STREAM    = 0
	VIRTIO_VSOCK_F_SEQPACKET = 1

	// Event IDs (struct virtio_vsock_event.id, virtio_vsock.h): the
	// transport was reset; the driver drops every connection and re-reads
	// guest_cid.
	VIRTIO_VSOCK_EVENT_TRANSPORT_RESET = 0

	// The host's context ID (linux/vm_sockets.h VMADDR_CID_HOST). Guest
	// CIDs 0, 1, 2 and 0xffffffff (VMADDR_CID_ANY) are reserved.
	VMADDR_CID_HOST = 2
	VMADDR_CID_ANY  = 0xffffffff

	// VIRTIO_VSOCK_MAX_PKT_BUF_SIZE is Linux's largest packet payload
	// (virtio_vsock.h, 64 KiB); longer RW packets are refused.
	VIRTIO_VSOCK_MAX_PKT_BUF_SIZE = 64 << 10
)

// Queue indexes (§5.10.2).
const (
	rxq    = 0 // device → driver packets
	txq    = 1 // driver → device packets
	eventq = 2 // device → driver events: TRANSPORT_RESET (Device.TransportReset)
)

// eventSize is sizeof(struct virtio_vsock_event): one le32, the event ID.
const eventSize = 4

// hdrSize is sizeof(struct virtio_vsock_hdr), which is packed.
const hdrSize = 44

// Field offsets in struct virtio_vsock_hdr (all little-endian).
const (
	offSrcCID   = 0  // le64
	offDstCID   = 8  // le64
	offSrcPort  = 16 // le32
	offDstPort  = 20 // le32
	offLen      = 24 // le32: payload bytes after the header
	offType     = 28 // le16
	offOp       = 30 // le16
	offFlags    = 32 // le32
	offBufAlloc = 36 // le32: the sender's receive buffer size
	offFwdCnt   = 40 // le32: bytes the sender has consumed (forwarded) so far
)

// hdr mirrors struct virtio_vsock_hdr (44 bytes, packed). It is always
// parsed from, and encoded into, a copy: never overlaid on guest memory.
type hdr struct {
	SrcCID   uint64
	DstCID   uint64
	SrcPort  uint32
	DstPort  uint32
	Len      uint32
	Type     uint16
	Op       uint16
	Flags    uint32
	BufAlloc uint32
	FwdCnt   uint32
}

func (h *hdr) decode(b *[hdrSize]byte) {
	le := binary.LittleEndian
	h.SrcCID = le.Uint64(b[offSrcCID:])
	h.DstCID = le.Uint64(b[offDstCID:])
	h.SrcPort = le.Uint32(b[offSrcPort:])
	h.DstPort = le.Uint32(b[offDstPort:])
	h.Len = le.Uint32(b[offLen:])
	h.Type = le.Uint16(b[offType:])
	h.Op = le.Uint16(b[offOp:])
	h.Flags = le.Uint32(b[offFlags:])
	h.BufAlloc = le.Uint32(b[offBufAlloc:])
	h.FwdCnt = le.Uint32(b[offFwdCnt:])
}

func (h *hdr) encode(b *[hdrSize]byte) {
	le := binary.LittleEndian
	le.PutUint64(b[offSrcCID:], h.SrcCID)
	le.PutUint64(b[offDstCID:], h.DstCID)
	le.PutUint32(b[offSrcPort:], h.SrcPort)
	le.PutUint32(b[offDstPort:], h.DstPort)
	le.PutUint32(b[offLen:], h.Len)
	le.PutUint16(b[offType:], h.Type)
	le.PutUint16(b[offOp:], h.Op)
	le.PutUint32(b[offFlags:], h.Flags)
	le.PutUint32(b[offBufAlloc:], h.BufAlloc)
	le.PutUint32(b[offFwdCnt:], h.FwdCnt)
}
