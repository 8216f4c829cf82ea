package vsock

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// The benchmarks move data through the device with the harness as the
// guest driver (it reposts rx buffers, acknowledges data with credit
// updates, respects the device's credit) and, in the same rounds, the
// same bytes through a raw Unix socket pair, and report both rates and
// their ratio (target ≥ 0.7). One op is one 64 KiB chunk. Timed: the whole
// transfer, the harness's driver work and every thread wake-up included,
// so the ratio is a lower bound of the device's own efficiency.

const (
	chunk       = 64 << 10
	benchRound  = 256 // chunks per round: 16 MiB
	guestWindow = 1 << 20
)

// rawPair returns a connected pair of Go Unix socket conns.
func rawPair(b *testing.B) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	var c [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		if c[i], err = net.FileConn(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.Cleanup(func() { c[0].Close(); c[1].Close() })
	return c[0], c[1]
}

// pump writes n chunks to w in the background.
func pump(b *testing.B, w io.Writer, n int) chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for range n {
			if _, err := w.Write(buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// drain reads n chunks' worth from r.
func drain(r io.Reader, n int) error {
	buf := make([]byte, chunk)
	_, err := io.ReadFull(r, make([]byte, 0))
	for left := n * chunk; left > 0 && err == nil; {
		var k int
		k, err = r.Read(buf[:min(len(buf), left)])
		left -= k
	}
	return err
}

func report(b *testing.B, dev, raw time.Duration) {
	mb := float64(b.N) * chunk / 1e6
	b.ReportMetric(mb/dev.Seconds(), "dev-MB/s")
	b.ReportMetric(mb/raw.Seconds(), "raw-MB/s")
	b.ReportMetric(raw.Seconds()/dev.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// alternate times device and a raw Unix socket pair moving the same bytes,
// in alternating rounds so both see the same machine load, and reports
// both and their ratio.
func alternate(b *testing.B, device func(n int) time.Duration) {
	rw, rr := rawPair(b)
	raw := func(n int) time.Duration {
		t0 := time.Now()
		done := pump(b, rw, n)
		if err := drain(rr, n); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	b.SetBytes(chunk)
	b.ResetTimer()
	var td, tr time.Duration
	for done := 0; done < b.N; done += benchRound {
		n := min(benchRound, b.N-done)
		td += device(n)
		tr += raw(n)
	}
	report(b, td, tr)
}

func BenchmarkHostToGuest(b *testing.B) {
	for _, size := range []uint32{4096, chunk} {
		b.Run(map[uint32]string{4096: "rxbuf=4K", chunk: "rxbuf=64K"}[size], func(b *testing.B) {
			benchHostToGuest(b, size)
		})
	}
}

func benchHostToGuest(b *testing.B, bufSize uint32) {
	g := newGuestSized(b, MaxConns, hdrSize+bufSize, 0)
	g.bufAlloc = guestWindow
	for range 128 {
		g.postRx(g.d.Alloc(uint64(g.rxSize), 8))
	}
	g.rx.Notify()
	updAddr := g.d.Alloc(hdrSize*64, 8)
	g.txMark = g.d.AllocMark() // g.send allocates from here on
	c, _, hp := g.hostConnect(1)
	// The credit update the guest sends as its reader consumes.
	var upd [hdrSize]byte
	updHdr := hdr{SrcCID: testCID, DstCID: VMADDR_CID_HOST, SrcPort: 1, DstPort: hp, Type: VIRTIO_VSOCK_TYPE_STREAM,
		Op: VIRTIO_VSOCK_OP_CREDIT_UPDATE, BufAlloc: guestWindow}
	var consumed, told uint32
	var slot int
	device := func(n int) time.Duration {
		t0 := time.Now()
		done := pump(b, c, n)
		for left := n * chunk; left > 0; {
			u, err := g.rx.WaitErr()
			if err != nil {
				b.Fatalf("%v; %d bytes left, %d consumed, %d told", err, left, consumed, told)
			}
			a := g.rxAddr[uint16(u.ID)]
			delete(g.rxAddr, uint16(u.ID))
			h, _ := g.d.Mem.Slice(a, hdrSize)
			if binary.LittleEndian.Uint16(h[offOp:]) == VIRTIO_VSOCK_OP_RW {
				l := binary.LittleEndian.Uint32(h[offLen:])
				left -= int(l)
				consumed += l
			}
			g.postRx(a)
			g.rx.Notify()
			for {
				if _, ok := g.tx.Next(); !ok {
					break
				}
			}
			if consumed-told >= guestWindow/2 && g.tx.Free() > 0 {
				updHdr.FwdCnt = consumed
				updHdr.encode(&upd)
				ua := updAddr + guestmem.GPA(hdrSize*(slot%64))
				slot++
				if err := g.d.Mem.WriteAt(upd[:], ua); err != nil {
					b.Fatal(err)
				}
				g.tx.Add(vt.Buf{Addr: ua, Len: hdrSize})
				g.tx.Notify()
				told = consumed
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	alternate(b, device)
}

func BenchmarkGuestToHost(b *testing.B) {
	g := newGuestSized(b, MaxConns, rxBufSize, 64)
	payload := g.d.Alloc(chunk, 8)
	hdrs := g.d.Alloc(hdrSize*256, 8)
	g.txMark = g.d.AllocMark() // g.send allocates from here on
	ln, err := net.Listen("unix", g.path+"_5000")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	g.send(hdr{Op: VIRTIO_VSOCK_OP_REQUEST, SrcPort: 1234, DstPort: 5000}, nil)
	g.expect(VIRTIO_VSOCK_OP_RESPONSE, 5000, 1234)
	host, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	var sent, peerFwd uint32 // guest's view of the device's credit
	h := hdr{SrcCID: testCID, DstCID: VMADDR_CID_HOST, SrcPort: 1234, DstPort: 5000, Len: chunk,
		Type: VIRTIO_VSOCK_TYPE_STREAM, Op: VIRTIO_VSOCK_OP_RW, BufAlloc: g.bufAlloc}
	var hb [hdrSize]byte
	reapRx := func(wait bool) {
		for {
			var u vt.Used
			if wait {
				var err error
				if u, err = g.rx.WaitErr(); err != nil {
					b.Fatal(err)
				}
				wait = false
			} else {
				var ok bool
				if u, ok = g.rx.Next(); !ok {
					return
				}
			}
			a := g.rxAddr[uint16(u.ID)]
			delete(g.rxAddr, uint16(u.ID))
			p, _ := g.d.Mem.Slice(a, hdrSize)
			var ph hdr
			ph.decode((*[hdrSize]byte)(p))
			if ph.Op == VIRTIO_VSOCK_OP_CREDIT_UPDATE || ph.Op == VIRTIO_VSOCK_OP_RW {
				peerFwd = ph.FwdCnt
			}
			g.postRx(a)
			g.rx.Notify()
		}
	}
	device := func(n int) time.Duration {
		t0 := time.Now()
		done := make(chan error, 1)
		go func() { done <- drain(host, n) }()
		for i := 0; i < n; {
			for {
				if _, ok := g.tx.Next(); !ok {
					break
				}
			}
			reapRx(false)
			switch {
			case BufAlloc-(sent-peerFwd) < chunk:
				reapRx(true) // out of credit: wait for an update
			case g.tx.Free() < 2:
				if _, err := g.tx.WaitErr(); err != nil {
					b.Fatal(err)
				}
			default:
				ha := hdrs + guestmem.GPA(hdrSize*(i%256))
				h.encode(&hb)
				if err := g.d.Mem.WriteAt(hb[:], ha); err != nil {
					b.Fatal(err)
				}
				g.tx.Add(vt.Buf{Addr: ha, Len: hdrSize}, vt.Buf{Addr: payload, Len: chunk})
				g.tx.Notify()
				sent += chunk
				i++
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	alternate(b, device)
}
