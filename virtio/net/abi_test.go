package net

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// virtioNetHdrV1 mirrors struct virtio_net_hdr_v1 (include/uapi/linux/
// virtio_net.h); the device reads and writes it by offset.
type virtioNetHdrV1 struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
	NumBuffers uint16
}

// virtioNetConfig mirrors struct virtio_net_config up to and with mtu.
type virtioNetConfig struct {
	MAC               [6]uint8
	Status            uint16
	MaxVirtqueuePairs uint16
	MTU               uint16
}

func TestABILayout(t *testing.T) {
	var h virtioNetHdrV1
	var c virtioNetConfig
	for _, x := range []struct {
		what      string
		got, want uintptr
	}{
		{"sizeof(virtio_net_hdr_v1)", uintptr(binary.Size(h)), HdrLen},
		{"virtio_net_hdr_v1.flags", unsafe.Offsetof(h.Flags), hdrFlags},
		{"virtio_net_hdr_v1.gso_type", unsafe.Offsetof(h.GSOType), hdrGSOType},
		{"virtio_net_hdr_v1.num_buffers", unsafe.Offsetof(h.NumBuffers), hdrNumBuffers},
		{"sizeof(virtio_net_config) to mtu", uintptr(binary.Size(c)), configSize},
		{"virtio_net_config.mac", unsafe.Offsetof(c.MAC), cfgMAC},
		{"virtio_net_config.status", unsafe.Offsetof(c.Status), cfgStatus},
		{"virtio_net_config.max_virtqueue_pairs", unsafe.Offsetof(c.MaxVirtqueuePairs), cfgMaxVirtqueuePairs},
		{"virtio_net_config.mtu", unsafe.Offsetof(c.MTU), cfgMTU},
	} {
		if x.got != x.want {
			t.Errorf("%s = %d, want %d", x.what, x.got, x.want)
		}
	}
}
