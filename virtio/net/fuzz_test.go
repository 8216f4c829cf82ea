package net

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// txSeed is one committed input of FuzzNetTx: the chain's readable bytes
// (header and frame), the descriptor size they are split into, whether
// the chain goes through an indirect table, and how many device-writable
// bytes follow (a tx chain should have none).
type txSeed struct {
	name     string
	data     []byte
	split    uint16
	indirect bool
	writable uint16
}

func seedFrame(hdr []byte, n int) []byte { return append(bytes.Clone(hdr), ethFrame(n, 0)...) }

var txSeeds = []txSeed{
	{"plain", seedFrame(netHdr(0, 0, 0, 0, 0, 0, 0), 60), 0, false, 0},
	{"split_header", seedFrame(netHdr(0, 0, 0, 0, 0, 0, 0), 1514), 5, true, 0},
	{"empty", nil, 0, false, 0},
	{"short_header", make([]byte, HdrLen-1), 0, false, 0},
	{"header_only", netHdr(0, 0, 0, 0, 0, 0, 0), 0, false, 0},
	{"no_ethernet_header", append(netHdr(0, 0, 0, 0, 0, 0, 0), make([]byte, ethHLen-1)...), 3, false, 0},
	{"csum", seedFrame(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 6, 0), 100), 0, false, 0},
	{"csum_past_end", seedFrame(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0xfff0, 0xfff0, 0), 100), 0, false, 0},
	{"tso4", seedFrame(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16, 0), 1600), 400, true, 0},
	{"tso_gso_size_0", seedFrame(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 74, 0, 54, 16, 0), 200), 0, false, 0},
	{"ufo", seedFrame(netHdr(0, VIRTIO_NET_HDR_GSO_UDP, 42, 1000, 0, 0, 0), 200), 0, false, 0},
	{"ecn_alone", seedFrame(netHdr(0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0, 0), 100), 0, false, 0},
	{"all_flags", seedFrame(netHdr(0xff, 0xff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff), 100), 7, false, 0},
	{"writable_tail", seedFrame(netHdr(0, 0, 0, 0, 0, 0, 0), 60), 0, false, 100},
	{"huge", seedFrame(netHdr(0, 0, 0, 0, 0, 0, 0), MaxFrame+1), 0, false, 0},
}

func TestWriteNetFuzzSeeds(t *testing.T) {
	if os.Getenv("HULL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set HULL_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzNetTx")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzNetTx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range txSeeds {
		if len(s.data) > 8<<10 {
			continue // f.Add has it; not worth 260 KB of escaped bytes in the tree
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nbool(%v)\nuint16(%d)\n", s.data, s.split, s.indirect, s.writable)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzNetTx sends arbitrary tx chains (any header, any length, split into
// descriptors of any size, direct or indirect, with device-writable bytes
// after them) to a device that negotiated every feature. Property: no
// panic and no host error; every chain comes back with length 0; what
// reaches the backend is exactly the chain's readable bytes, and only
// when they are a frame the device may pass (length and header checked);
// afterwards a good frame still goes through.
func FuzzNetTx(f *testing.F) {
	for _, s := range txSeeds {
		f.Add(s.data, s.split, s.indirect, s.writable)
	}
	g := newGuest(f, guestOpts{want: fAll, offloads: allOff})
	mark := g.d.AllocMark()
	good := seedFrame(netHdr(0, 0, 0, 0, 0, 0, 0), 60)

	f.Fuzz(func(t *testing.T, data []byte, split uint16, indirect bool, writable uint16) {
		g.t, g.d.T = t, t
		defer g.d.AllocRelease(mark)
		data = data[:min(len(data), HdrLen+MaxFrame+100)]
		a := g.d.Put(data)
		step := int(split)
		if step == 0 || len(data)/step > 64 {
			step = max(len(data), 1)
		}
		var bufs []vt.Buf
		for off := 0; off < len(data); off += step {
			bufs = append(bufs, vt.Buf{Addr: a + guestmem.GPA(off), Len: uint32(min(step, len(data)-off))})
		}
		if writable > 0 {
			bufs = append(bufs, vt.Buf{Addr: g.d.Alloc(uint64(writable), 8), Len: uint32(writable), Write: true})
		}
		if len(bufs) == 0 {
			bufs = append(bufs, vt.Buf{Addr: a, Len: 0})
		}
		var head uint16
		if indirect {
			head = g.tx.AddIndirect(bufs...)
		} else {
			head = g.tx.Add(bufs...)
		}
		g.tx.Notify()
		g.txDone(head)

		passable := len(data) >= HdrLen+ethHLen && len(data) <= HdrLen+MaxFrame &&
			txHeaderOK(data[hdrFlags], data[hdrGSOType], g.d.Features)
		if passable {
			if got := g.be.recv(t, wait); !bytes.Equal(got, data) {
				t.Fatalf("backend got %d bytes, want the %d sent", len(got), len(data))
			}
		}
		g.txDone(g.sendTx(good, 0))
		if got := g.be.recv(t, wait); !bytes.Equal(got, good) {
			t.Fatalf("after the fuzzed chain (passable %v) the backend got %d bytes, not the good frame", passable, len(got))
		}
		g.noHostErr()
	})
}

// FuzzNetRx delivers a frame of any length into rx chains of any layout
// (sizes from the fuzzer, readable buffers among them), with and without
// MRG_RXBUF. Property: no panic; the frame is delivered intact in the
// chains (num_buffers of them, all published at once) or dropped and
// counted; chains too short for a header come back empty.
func FuzzNetRx(f *testing.F) {
	f.Add(uint32(100), []byte{0, 64}, true)
	f.Add(uint32(3000), []byte{4, 4, 4, 0}, true)
	f.Add(uint32(3000), []byte{16}, false)
	f.Add(uint32(MaxFrame), []byte{255, 255, 255, 255, 255}, true)
	f.Add(uint32(14), []byte{1, 2, 3}, false)
	type setup struct {
		g    *guest
		mark guestmem.GPA
	}
	var gs [2]*setup
	for i, want := range []uint64{fNoMRG, fAll} {
		g := newGuest(f, guestOpts{want: want, qsize: 16})
		gs[i] = &setup{g: g, mark: g.d.AllocMark()}
	}

	f.Fuzz(func(t *testing.T, frameLen uint32, layout []byte, mrg bool) {
		s := gs[0]
		if mrg {
			s = gs[1]
		}
		g := s.g
		g.t, g.d.T = t, t
		// Fresh queues for every input: the chains a previous input left
		// posted belong to its layout.
		// The rings are allocated where the last input's were: zero them,
		// as a driver would.
		g.d.Reset()
		if err := g.d.Mem.WriteAt(make([]byte, g.d.AllocMark()-s.mark), s.mark); err != nil {
			t.Fatal(err)
		}
		g.d.AllocRelease(s.mark)
		g.d.Init(g.d.Features)
		g.rx = g.d.SetupQueue(rxq, 16)
		g.tx = g.d.SetupQueue(txq, 16)
		g.rxChains = map[uint16][]vt.Buf{}
		g.d.DriverOK()
		frameLen = max(frameLen%(MaxFrame+1), ethHLen)
		layout = layout[:min(len(layout), 8)]
		if len(layout) == 0 {
			layout = []byte{0}
		}
		// Each layout byte is a chain of one buffer of b*512+b bytes,
		// device-readable when b is odd.
		for _, b := range layout {
			n := uint32(b)*512 + uint32(b)
			buf := vt.Buf{Addr: g.d.Alloc(uint64(max(n, 1)), 8), Len: n, Write: b%2 == 0}
			head := g.rx.Add(buf)
			g.rxChains[head] = []vt.Buf{buf}
		}
		// A buffer that takes any frame, so the test never waits forever.
		g.postRx(HdrLen + MaxFrame)
		g.rx.Notify()
		st := &g.dev.Stats
		dropped := st.RxTooBig.Load()
		frame := ethFrame(int(frameLen), byte(frameLen))
		g.be.send(t, append(netHdr(0, 0, 0, 0, 0, 0, 0), frame...))
		delivered := false
		deadline := time.Now().Add(wait)
		for !delivered && st.RxTooBig.Load() == dropped {
			u, ok := g.rx.Next()
			if !ok {
				if time.Now().After(deadline) {
					t.Fatal("the frame was neither delivered nor dropped")
				}
				time.Sleep(100 * time.Microsecond)
				continue
			}
			b := g.rxBytes(u)
			if u.Len == 0 {
				continue // a chain too short for the header
			}
			nb := int(binary.LittleEndian.Uint16(b[hdrNumBuffers:]))
			for i := range nb - 1 {
				// Published with the first: this driver polls.
				u, ok := g.rx.Next()
				if !ok {
					t.Fatalf("buffer %d of %d not published with the first", i+2, nb)
				}
				b = append(b, g.rxBytes(u)...)
			}
			if !bytes.Equal(b[HdrLen:], frame) {
				t.Fatalf("frame of %d bytes delivered as %d bytes in %d buffers", frameLen, len(b)-HdrLen, nb)
			}
			delivered = true
		}
		g.noHostErr()
	})
}
