package net

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
)

// sender is the transmit queue's state, used by its worker only (Kick on
// queue 1), from Activate to Reset.
type sender struct {
	d        *Device
	ctx      *virtio.ActivationContext
	q        *virtio.Queue
	features uint64
	chain    virtio.Chain
	hdr      [HdrLen]byte // a copy of the header, for the checks
	iov      [][]byte
}

func (s *sender) init(d *Device, ctx *virtio.ActivationContext) {
	s.d, s.ctx, s.q, s.features = d, ctx, ctx.Queues[txq], ctx.Features
}

// kick sends every chain the driver made available.
func (s *sender) kick() error { return s.q.Process(&s.chain, s.send) }

// send writes one frame (a tx chain: header, then the Ethernet frame, all
// device-readable) to the backend in one writev straight from guest
// memory. The header's offload requests are checked on a copy first, for
// the spec's sake: what the TAP reads may differ if the driver changes it
// meanwhile, but the kernel validates the header it reads, and such a
// driver gets nothing a TAP would not take from it anyway (passing the
// copy instead split the iovec and cost 4 % of the frame rate). Frames
// the device cannot pass are dropped and counted; the used length is
// always 0 (nothing is written into a tx chain).
func (s *sender) send(c *virtio.Chain) (uint32, error) {
	st := &s.d.Stats
	switch {
	case c.ReadLen < HdrLen+ethHLen:
		st.TxShort.Add(1)
		return 0, nil
	case c.ReadLen > HdrLen+MaxFrame:
		st.TxTooBig.Add(1)
		return 0, nil
	}
	mem := s.ctx.Mem
	if err := virtio.ReadFrom(mem, c.Readable(), 0, s.hdr[:]); err != nil {
		st.TxShort.Add(1) // cannot happen: ReadLen was checked
		return 0, nil
	}
	if !txHeaderOK(s.hdr[hdrFlags], s.hdr[hdrGSOType], s.features) {
		st.TxBadHeader.Add(1)
		return 0, nil
	}
	iov, err := virtio.Slices(mem, c.Readable(), 0, c.ReadLen, s.iov[:0])
	s.iov = iov
	if err != nil {
		st.TxShort.Add(1) // cannot happen: ReadLen was checked
		return 0, nil
	}
	_, err = s.d.be.Write(iov)
	switch err {
	case nil:
		st.TxFrames.Add(1)
		st.TxBytes.Add(c.ReadLen - HdrLen)
	case unix.EBADF, unix.EBADFD:
		return 0, fmt.Errorf("net: backend write: %w", err)
	default:
		st.TxDropped.Add(1)
	}
	return 0, nil
}

// txHeaderOK checks a transmitted header's offload requests against what
// was negotiated (§5.1.6.2): a partial checksum needs VIRTIO_NET_F_CSUM,
// TSO the HOST_TSO feature of its kind, ECN HOST_ECN; UFO is not offered.
// Whether the offsets and sizes make sense the kernel checks when the TAP
// takes the frame (an EINVAL is counted in TxDropped).
func txHeaderOK(flags, gsoType uint8, features uint64) bool {
	has := func(n uint) bool { return features&virtio.Bit(n) != 0 }
	if flags&VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 && !has(VIRTIO_NET_F_CSUM) {
		return false
	}
	return gsoOK(gsoType, has(VIRTIO_NET_F_HOST_TSO4), has(VIRTIO_NET_F_HOST_TSO6), has(VIRTIO_NET_F_HOST_ECN))
}

// gsoOK checks a gso_type against the TSO kinds allowed.
func gsoOK(gsoType uint8, tso4, tso6, ecn bool) bool {
	if gsoType&VIRTIO_NET_HDR_GSO_ECN != 0 && !ecn {
		return false
	}
	switch gsoType &^ VIRTIO_NET_HDR_GSO_ECN {
	case VIRTIO_NET_HDR_GSO_NONE:
		return gsoType == VIRTIO_NET_HDR_GSO_NONE // ECN without TSO means nothing
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return tso4
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return tso6
	}
	return false
}
