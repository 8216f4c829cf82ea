package vsock

import (
	"encoding/binary"
	"testing"
)

// struct virtio_vsock_hdr is packed: 44 bytes, the fields at these
// offsets (include/uapi/linux/virtio_vsock.h).
func TestHdrLayout(t *testing.T) {
	if n := binary.Size(hdr{}); n != hdrSize || hdrSize != 44 {
		t.Fatalf("hdr is %d bytes, hdrSize %d; want 44", n, hdrSize)
	}
	h := hdr{SrcCID: 0x0102030405060708, DstCID: 0x1112131415161718, SrcPort: 0x21222324, DstPort: 0x31323334,
		Len: 0x41424344, Type: 0x5152, Op: 0x6162, Flags: 0x71727374, BufAlloc: 0x81828384, FwdCnt: 0x91929394}
	var b [hdrSize]byte
	h.encode(&b)
	le := binary.LittleEndian
	for _, f := range []struct {
		off, size int
		want      uint64
	}{
		{0, 8, h.SrcCID}, {8, 8, h.DstCID}, {16, 4, uint64(h.SrcPort)}, {20, 4, uint64(h.DstPort)},
		{24, 4, uint64(h.Len)}, {28, 2, uint64(h.Type)}, {30, 2, uint64(h.Op)}, {32, 4, uint64(h.Flags)},
		{36, 4, uint64(h.BufAlloc)}, {40, 4, uint64(h.FwdCnt)},
	} {
		var got uint64
		switch f.size {
		case 8:
			got = le.Uint64(b[f.off:])
		case 4:
			got = uint64(le.Uint32(b[f.off:]))
		case 2:
			got = uint64(le.Uint16(b[f.off:]))
		}
		if got != f.want {
			t.Errorf("offset %d: %#x, want %#x", f.off, got, f.want)
		}
	}
	var back hdr
	back.decode(&b)
	if back != h {
		t.Fatalf("round trip: %+v", back)
	}
}
