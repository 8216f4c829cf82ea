package vsock

import (
	"encoding/binary"
	"testing"

	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// FuzzVsockTx sends the device a hostile packet: the bytes as given, split
// over two descriptors at split, with the header made plausible (the
// guest's CID, CID 2, STREAM) when fix is set so that the fuzzer reaches
// the connection logic. Property: no panic, the chain comes back, and the
// device still answers a REQUEST afterwards.
func FuzzVsockTx(f *testing.F) {
	seed := func(op uint16, length uint32, flags uint32, payload int, fix bool, split uint16) {
		var b [hdrSize]byte
		h := hdr{SrcCID: testCID, DstCID: VMADDR_CID_HOST, SrcPort: 1234, DstPort: 5000, Len: length,
			Type: VIRTIO_VSOCK_TYPE_STREAM, Op: op, Flags: flags, BufAlloc: 4096}
		h.encode(&b)
		f.Add(append(b[:], make([]byte, payload)...), fix, split)
	}
	for op := uint16(0); op <= 8; op++ {
		seed(op, 0, 0, 0, true, hdrSize)
		seed(op, 10, 3, 10, true, 20)
	}
	seed(VIRTIO_VSOCK_OP_RW, 1<<31, 0, 16, true, hdrSize)
	seed(VIRTIO_VSOCK_OP_RW, ^uint32(0), 0, 0, false, 0)
	seed(VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_MAX_PKT_BUF_SIZE+1, 0, 100, true, 7)
	f.Add([]byte{}, false, uint16(0))
	f.Add(make([]byte, hdrSize-1), true, uint16(3))

	f.Fuzz(func(t *testing.T, data []byte, fix bool, split uint16) {
		g := newGuestSized(t, 8, rxBufSize, 8)
		if fix && len(data) >= hdrSize {
			binary.LittleEndian.PutUint64(data[offSrcCID:], testCID)
			binary.LittleEndian.PutUint64(data[offDstCID:], VMADDR_CID_HOST)
			binary.LittleEndian.PutUint16(data[offType:], VIRTIO_VSOCK_TYPE_STREAM)
		}
		s := min(int(split), len(data))
		var bufs []vt.Buf
		for _, part := range [][]byte{data[:s], data[s:]} {
			if len(part) > 0 {
				bufs = append(bufs, vt.Buf{Addr: g.d.Put(part), Len: uint32(len(part))})
			}
		}
		if len(bufs) == 0 {
			bufs = append(bufs, vt.Buf{Addr: g.d.Alloc(8, 8), Len: 0})
		}
		g.tx.Add(bufs...)
		g.tx.Notify()
		if u := g.tx.Wait(); u.Len != 0 {
			t.Fatalf("tx used length %d", u.Len)
		}
		// Still alive and correct: a fresh request to a port nobody
		// listens on is reset.
		g.send(hdr{Op: VIRTIO_VSOCK_OP_REQUEST, SrcPort: 4242, DstPort: 4243}, nil)
		for {
			p := g.recv()
			if p.Op == VIRTIO_VSOCK_OP_RST && p.SrcPort == 4243 && p.DstPort == 4242 {
				break
			}
		}
	})
}
