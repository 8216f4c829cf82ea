package net

import (
	"bytes"
	"encoding/binary"
	"errors"
	stdnet "net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// The host tier's TAP tests: the device over a real TAP interface, frames
// checked on the interface's side with AF_PACKET sockets (root; make
// test-host finds them by their testtier.RequireRoot).

func TestTAPNameChecks(t *testing.T) {
	for _, name := range []string{strings.Repeat("x", unix.IFNAMSIZ), "a/b", "a:b", "a b", ".", ".."} {
		if _, err := OpenTAP(name); !errors.Is(err, ErrTAPName) {
			t.Errorf("OpenTAP(%q): %v, want ErrTAPName", name, err)
		}
	}
}

func TestTAPNoTUN(t *testing.T) {
	defer func(p string) { tunPath = p }(tunPath)
	tunPath = t.TempDir() + "/tun"
	if _, err := OpenTAP("tap0"); !errors.Is(err, ErrNoTUN) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenTAP without %s: %v, want ErrNoTUN", tunPath, err)
	}
}

// openTestTAP creates a TAP the kernel names from pattern (closed, and so
// removed, when the test ends), brings it up and returns it with its
// interface index.
func openTestTAP(t testing.TB, pattern string) (*TAP, int) {
	t.Helper()
	testtier.RequireRoot(t)
	if _, err := os.Stat(tunPath); err != nil {
		t.Skipf("no %s (the tun module is not loaded): %v", tunPath, err)
	}
	tap, err := OpenTAP(pattern)
	if err != nil {
		t.Fatal(err)
	}
	// Quiet: no IPv6 autoconfiguration frames in the way (best effort).
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+tap.Name()+"/disable_ipv6", []byte("1"), 0o644)
	if err := setLinkUp(tap.Name()); err != nil {
		_ = tap.Close()
		t.Fatal(err)
	}
	ifi, err := stdnet.InterfaceByName(tap.Name())
	if err != nil {
		_ = tap.Close()
		t.Fatal(err)
	}
	return tap, ifi.Index
}

// setLinkUp sets IFF_UP on interface name.
func setLinkUp(name string) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}

func TestTAPOpenErrors(t *testing.T) {
	testtier.RequireRoot(t)
	tap, _ := openTestTAP(t, "hullnt%d")
	defer tap.Close()
	if tap.Offloads()&TUN_F_CSUM == 0 {
		t.Errorf("offloads %#x: this kernel's TAP takes checksum offload", tap.Offloads())
	}
	if _, err := OpenTAP(tap.Name()); !errors.Is(err, ErrTAPBusy) {
		t.Errorf("second OpenTAP(%s): %v, want ErrTAPBusy", tap.Name(), err)
	}
	if _, err := OpenTAP("lo"); !errors.Is(err, ErrNotTAP) {
		t.Errorf("OpenTAP(lo): %v, want ErrNotTAP", err)
	}
}

// packetSocket is an AF_PACKET socket on one interface that reads and
// writes frames with a 10-byte struct virtio_net_hdr in front
// (PACKET_VNET_HDR), so offload state is visible on the host side too.
type packetSocket struct {
	fd      int
	ifindex int
}

const etherTest = 0x88b5 // IEEE 802 local experimental EtherType

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func newPacketSocket(t testing.TB, ifindex int, proto uint16) *packetSocket {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(proto)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifindex}); err != nil {
		t.Fatal(err)
	}
	return &packetSocket{fd: fd, ifindex: ifindex}
}

// send transmits vnetHdr (10 bytes) + frame out of the interface: the TAP
// delivers it to its reader, the device.
func (p *packetSocket) send(t testing.TB, vnetHdr, frame []byte) {
	t.Helper()
	proto := binary.BigEndian.Uint16(frame[12:14])
	sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: p.ifindex, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	if err := unix.Sendto(p.fd, append(bytes.Clone(vnetHdr), frame...), 0, sa); err != nil {
		t.Fatalf("AF_PACKET send: %v", err)
	}
}

// recv returns the next frame the interface received (not one it sent)
// matching keep, with its 10-byte vnet header.
func (p *packetSocket) recv(t testing.TB, keep func([]byte) bool) (hdr, frame []byte) {
	t.Helper()
	buf := make([]byte, 1<<17)
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(wait); ; {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			t.Fatal("no frame on the TAP interface")
		}
		if n, err := unix.Poll(fds, ms); err != nil && err != unix.EINTR {
			t.Fatal(err)
		} else if n <= 0 {
			continue
		}
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if n >= 10 && keep(buf[10:n]) {
			return bytes.Clone(buf[:10]), bytes.Clone(buf[10:n])
		}
	}
}

// vnetHdr10 is struct virtio_net_hdr (without num_buffers), as AF_PACKET
// uses it.
func vnetHdr10(flags, gso uint8, hdrLen, gsoSize, csumStart, csumOff uint16) []byte {
	return netHdr(flags, gso, hdrLen, gsoSize, csumStart, csumOff, 0)[:10]
}

// tapGuest is a driver for the device over a real TAP.
func tapGuest(t *testing.T, want uint64) (*guest, *packetSocket) {
	tap, ifindex := openTestTAP(t, "hullnt%d")
	g := &guest{t: t, rxChains: map[uint16][]vt.Buf{}, errs: make(chan error, 16)}
	report := func(err error) {
		select {
		case g.errs <- err:
		default:
		}
	}
	dev, err := New(tap, Options{MAC: testMAC, OnError: report})
	if err != nil {
		t.Fatal(err)
	}
	g.dev = dev
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Errorf("closing the device: %v", err)
		}
	})
	g.d = vt.New(t, dev, vt.Options{MemSize: 32 << 20, HostErrors: report})
	g.d.Init(want)
	g.rx = g.d.SetupQueue(rxq, QueueSize)
	g.tx = g.d.SetupQueue(txq, QueueSize)
	g.d.DriverOK()
	return g, newPacketSocket(t, ifindex, unix.ETH_P_ALL)
}

// recvTest returns the next frame the driver receives that has the test
// EtherType or is IPv4 (the TAP's own traffic, IPv6 or ARP, is skipped).
func (g *guest) recvTest() []byte {
	g.t.Helper()
	for {
		f, used := g.recvFrame()
		for range used {
			g.postRx(2048)
		}
		g.rx.Notify()
		if et := binary.BigEndian.Uint16(f[HdrLen+12:]); et == etherTest || et == unix.ETH_P_IP {
			return f
		}
	}
}

func isTest(f []byte) bool { return len(f) >= 14 && binary.BigEndian.Uint16(f[12:]) == etherTest }

func isTCP(f []byte) bool {
	return len(f) >= 34 && binary.BigEndian.Uint16(f[12:]) == unix.ETH_P_IP && f[23] == unix.IPPROTO_TCP
}

// TestTAPTx: frames the driver sends arrive on the TAP interface with
// their header's offload state.
func TestTAPTx(t *testing.T) {
	testtier.RequireRoot(t)
	g, ps := tapGuest(t, fAll)
	f := ethFrame(200, 1)
	g.txDone(g.sendTx(append(netHdr(0, 0, 0, 0, 0, 0, 0), f...), 64))
	if _, got := ps.recv(t, isTest); !bytes.Equal(got, f) {
		t.Fatalf("the interface got %d bytes, want the %d sent", len(got), len(f))
	}
	// A partial checksum: the host's stack sees it as such. (Linux wants
	// csum_start past an IPv4 header's worth of bytes, whatever the
	// EtherType: 34 and 6 are a UDP checksum's place.)
	g.txDone(g.sendTx(append(netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 6, 0), f...), 0))
	if h, got := ps.recv(t, isTest); !bytes.Equal(got, f) || !bytes.Equal(h, vnetHdr10(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 6)) {
		t.Fatalf("partial checksum: header % x", h)
	}
	// A TSO frame stays one frame with its GSO state (HOST_TSO4).
	seg := tcpFrame(3000)
	hdr := netHdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1000, 34, 16, 0)
	g.txDone(g.sendTx(append(hdr, seg...), 1500))
	h, got := ps.recv(t, isTCP)
	if !bytes.Equal(got, seg) || h[1] != VIRTIO_NET_HDR_GSO_TCPV4 || binary.LittleEndian.Uint16(h[4:]) != 1000 {
		t.Fatalf("TSO frame: header % x, %d bytes", h, len(got))
	}
	if n := g.dev.Stats.TxFrames.Load(); n != 3 {
		t.Errorf("TxFrames %d", n)
	}
	g.noHostErr()
}

// TestTAPRx: frames sent out of the TAP interface land in the driver's
// buffers, with the offloads the driver accepted set on the TAP: a
// partial checksum reaches a driver with GUEST_CSUM as such and is
// completed by the kernel for one without; a TSO frame reaches a driver
// with GUEST_TSO4 whole (over several buffers with MRG_RXBUF), others
// segmented.
func TestTAPRx(t *testing.T) {
	testtier.RequireRoot(t)
	for _, c := range []struct {
		name      string
		want      uint64
		csum, tso bool
	}{
		{"all features", fAll, true, true},
		{"no MRG_RXBUF", fNoMRG, true, true},
		{"no offloads", fMinimal | virtio.Bit(VIRTIO_NET_F_MRG_RXBUF), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, ps := tapGuest(t, c.want)
			size := uint32(2048)
			if !g.has(VIRTIO_NET_F_MRG_RXBUF) {
				size = HdrLen + 65536
			}
			for range 16 {
				g.postRx(size)
			}
			g.rx.Notify()

			f := ethFrame(300, 2)
			ps.send(t, vnetHdr10(0, 0, 0, 0, 0, 0), f)
			if got := g.recvTest(); !bytes.Equal(got[HdrLen:], f) {
				t.Fatalf("received frame differs")
			}

			ps.send(t, vnetHdr10(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 6), f)
			got := g.recvTest()
			switch {
			case c.csum && got[0]&VIRTIO_NET_HDR_F_NEEDS_CSUM == 0:
				t.Errorf("partial checksum lost: header % x", got[:HdrLen])
			case c.csum && !bytes.Equal(got[HdrLen:], f):
				t.Errorf("partial-checksum frame changed")
			case !c.csum && got[0] != 0:
				t.Errorf("flags %#x for a driver without GUEST_CSUM", got[0])
			case !c.csum && binary.BigEndian.Uint16(got[HdrLen+40:]) != checksum(f[34:]):
				t.Errorf("checksum %#04x, want %#04x (completed by the kernel)",
					binary.BigEndian.Uint16(got[HdrLen+40:]), checksum(f[34:]))
			}

			// 20000 bytes: 10 buffers of 2048 with MRG_RXBUF, 20 segments
			// without TSO.
			const tsoPayload = 20000
			seg := tcpFrame(tsoPayload)
			ps.send(t, vnetHdr10(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1000, 34, 16), seg)
			got = g.recvTest()
			if c.tso {
				if got[1] != VIRTIO_NET_HDR_GSO_TCPV4 || len(got) != HdrLen+len(seg) || !bytes.Equal(got[HdrLen+54:], seg[54:]) {
					t.Fatalf("TSO frame: header % x, %d bytes", got[:HdrLen], len(got)-HdrLen)
				}
				if nb := binary.LittleEndian.Uint16(got[hdrNumBuffers:]); g.has(VIRTIO_NET_F_MRG_RXBUF) && nb != (HdrLen+54+tsoPayload+2047)/2048 {
					t.Errorf("TSO frame in %d buffers of 2048 bytes", nb)
				}
			} else {
				payload := got[HdrLen+54:]
				for len(payload) < tsoPayload {
					next := g.recvTest()
					if next[1] != VIRTIO_NET_HDR_GSO_NONE {
						t.Fatalf("segment with gso_type %#x", next[1])
					}
					payload = append(payload, next[HdrLen+54:]...)
				}
				if got[1] != VIRTIO_NET_HDR_GSO_NONE || len(got) != HdrLen+54+1000 || !bytes.Equal(payload, seg[54:]) {
					t.Fatalf("segmented TSO frame: first header % x, %d bytes; payload %d bytes", got[:HdrLen], len(got)-HdrLen, len(payload))
				}
			}
			g.noHostErr()
		})
	}
}

// checksum is the Internet checksum of p: what the kernel's
// skb_checksum_help stores for a partial checksum over p, whose field
// holds the starting sum.
func checksum(p []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(p); i += 2 {
		s += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	if len(p)%2 == 1 {
		s += uint32(p[len(p)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// tcpFrame is an IPv4 TCP segment of payload bytes (ACK, 10.99.0.1:7 →
// 10.99.0.2:9) in an Ethernet frame, with the TCP checksum field holding
// the pseudo-header sum, as a stack that offloads the checksum leaves it.
func tcpFrame(payload int) []byte {
	f := make([]byte, 54+payload)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2})
	copy(f[6:], testMAC[:])
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+20+payload))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, unix.IPPROTO_TCP
	copy(ip[12:], []byte{10, 99, 0, 1, 10, 99, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	tcp := f[34:54]
	binary.BigEndian.PutUint16(tcp[0:], 7)
	binary.BigEndian.PutUint16(tcp[2:], 9)
	binary.BigEndian.PutUint32(tcp[4:], 1)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12], tcp[13] = 5<<4, 0x10
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	for i := range payload {
		f[54+i] = byte(i * 7)
	}
	// Pseudo-header: addresses, protocol, TCP length; not complemented.
	var s uint32
	for i := 12; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	s += unix.IPPROTO_TCP + uint32(20+payload)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(tcp[16:], uint16(s))
	return f
}
