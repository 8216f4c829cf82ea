package tcnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
)

// The host tier (root, no KVM): a network namespace made with `ip netns
// add` and a veth pair, one end (eth0) inside with an address and a
// default route; frames written into Setup's TAP must come out of the
// host's end of the veth, and the other way round; Close and Cleanup must
// leave nothing of hull's.

type testNS struct {
	name, path string
	host       string // the veth's end outside the namespace
	hostIndex  int
	mac        net.HardwareAddr // eth0's, inside
	subnet     int
}

var nsSeq atomic.Int32

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newTestNS makes namespace hulltcN with eth0 (MTU mtu) at 10.201.N.2/24,
// a default route via 10.201.N.1 and a link-scope route to 169.254.1.1;
// the host end htcN-h is up at 10.201.N.1/24. All goes in t.Cleanup.
func newTestNS(t *testing.T, mtu int) *testNS {
	t.Helper()
	testtier.RequireRoot(t)
	testtier.RequireTool(t, "ip")
	testtier.RequireTool(t, "tc")
	if _, err := os.Stat(tunPath); err != nil {
		t.Skipf("no %s (the tun module is not loaded): %v", tunPath, err)
	}
	n := int(nsSeq.Add(1)) + os.Getpid()%100*3
	ns := &testNS{name: fmt.Sprintf("hulltc%d", n), host: fmt.Sprintf("htc%d-h", n), subnet: n % 250}
	ns.path = "/run/netns/" + ns.name
	run(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	peer := fmt.Sprintf("htc%d-n", n)
	run(t, "ip", "link", "add", ns.host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", ns.host).Run() })
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+ns.host+"/disable_ipv6", []byte("1"), 0o644)
	run(t, "ip", "link", "set", peer, "netns", ns.name)
	run(t, "ip", "-n", ns.name, "link", "set", peer, "name", "eth0")
	run(t, "ip", "-n", ns.name, "link", "set", "eth0", "mtu", fmt.Sprint(mtu), "up")
	run(t, "ip", "-n", ns.name, "addr", "add", fmt.Sprintf("10.201.%d.2/24", ns.subnet), "dev", "eth0")
	run(t, "ip", "-n", ns.name, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns.name, "route", "add", "default", "via", fmt.Sprintf("10.201.%d.1", ns.subnet))
	run(t, "ip", "-n", ns.name, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
	run(t, "ip", "addr", "add", fmt.Sprintf("10.201.%d.1/24", ns.subnet), "dev", ns.host)
	run(t, "ip", "link", "set", ns.host, "up")
	ifi, err := net.InterfaceByName(ns.host)
	if err != nil {
		t.Fatal(err)
	}
	ns.hostIndex = ifi.Index
	f := strings.Fields(run(t, "ip", "-n", ns.name, "-o", "link", "show", "eth0"))
	for i := range f {
		if f[i] == "link/ether" && i+1 < len(f) {
			ns.mac, _ = net.ParseMAC(f[i+1])
		}
	}
	if ns.mac == nil {
		t.Fatalf("no MAC for eth0 in %s", ns.name)
	}
	return ns
}

// leftovers describes what of hull's is left in the namespace: TAPs and
// ingress qdiscs.
func (ns *testNS) leftovers(t *testing.T) string {
	t.Helper()
	var left []string
	if out := run(t, "ip", "-n", ns.name, "-o", "link", "show"); strings.Contains(out, TAPSuffix) {
		left = append(left, "links: "+out)
	}
	for _, dev := range []string{"eth0"} {
		if out := run(t, "tc", "-n", ns.name, "qdisc", "show", "dev", dev); strings.Contains(out, "ingress") {
			left = append(left, dev+": "+out)
		}
	}
	return strings.Join(left, "; ")
}

const etherTest = 0x88b5 // IEEE 802 local experimental EtherType

func frame(dst, src net.HardwareAddr, payload string) []byte {
	f := append(append(append([]byte(nil), dst...), src...), byte(etherTest>>8), byte(etherTest&0xff))
	return append(f, payload...)
}

func packetSocket(t *testing.T, ifindex int) int {
	t.Helper()
	proto := uint16(etherTest&0xff)<<8 | uint16(etherTest>>8) // htons
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// readFrame reads from fd until a frame with payload arrives (skipping
// others: skip bytes of header first) or 5 s pass.
func readFrame(t *testing.T, fd, skip int, payload string) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 200); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatal(err)
		} else if n == 0 {
			continue
		}
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n >= skip+14 && bytes.HasSuffix(buf[:n], []byte(payload)) &&
			binary.BigEndian.Uint16(buf[skip+12:]) == etherTest {
			return append([]byte(nil), buf[skip:n]...)
		}
	}
	t.Fatalf("no frame with %q within 5 s", payload)
	return nil
}

func TestSetupRedirectsFrames(t *testing.T) {
	ns := newTestNS(t, 1400)
	n, err := Setup(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if len(n.Interfaces) != 1 {
		t.Fatalf("interfaces %+v (notes %q)", n.Interfaces, n.Notes)
	}
	ifc := n.Interfaces[0]
	wantAddr := netip.MustParsePrefix(fmt.Sprintf("10.201.%d.2/24", ns.subnet))
	if ifc.Name != "eth0" || ifc.MTU != 1400 || ifc.MAC.String() != ns.mac.String() ||
		len(ifc.Addrs) != 1 || ifc.Addrs[0] != wantAddr || ifc.TAPName != "tap0"+TAPSuffix {
		t.Errorf("interface %+v, want eth0 MTU 1400 %s %s", ifc, ns.mac, wantAddr)
	}
	gw := netip.MustParseAddr(fmt.Sprintf("10.201.%d.1", ns.subnet))
	wantRoutes := []Route{
		{Dst: netip.MustParsePrefix("169.254.1.1/32"), Device: "eth0", Scope: "link"},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Device: "eth0"},
	}
	if fmt.Sprint(n.Routes) != fmt.Sprint(wantRoutes) {
		t.Errorf("routes %v, want %v", n.Routes, wantRoutes)
	}
	tap := run(t, "ip", "-n", ns.name, "-d", "link", "show", ifc.TAPName)
	if !strings.Contains(tap, "mtu 1400") || !strings.Contains(tap, ",UP") || !strings.Contains(tap, "tun type tap") {
		t.Errorf("the TAP: %s", tap)
	}
	if strings.Contains(tap, "persist on") {
		t.Errorf("the TAP is persistent: %s", tap)
	}
	if out := run(t, "tc", "-n", ns.name, "filter", "show", "dev", "eth0", "ingress"); !strings.Contains(out, "Redirect to device "+ifc.TAPName) {
		t.Errorf("eth0's ingress filters: %s", out)
	}
	if out := run(t, "tc", "-n", ns.name, "filter", "show", "dev", ifc.TAPName, "ingress"); !strings.Contains(out, "Redirect to device eth0") {
		t.Errorf("the TAP's ingress filters: %s", out)
	}

	// Guest to host: a frame written into the TAP (behind the default
	// 10-byte virtio_net_hdr) leaves the namespace through eth0.
	hostFD := packetSocket(t, ns.hostIndex)
	hostMAC, _ := net.InterfaceByIndex(ns.hostIndex)
	tapFD := int(ifc.TAP.Fd())
	out := frame(hostMAC.HardwareAddr, ifc.MAC, "from the guest")
	if _, err := unix.Write(tapFD, append(make([]byte, 10), out...)); err != nil {
		t.Fatalf("writing into the TAP: %v", err)
	}
	if got := readFrame(t, hostFD, 0, "from the guest"); !bytes.Equal(got, out) {
		t.Errorf("host side got % x, want % x", got, out)
	}
	// Host to guest: a frame sent to eth0's MAC comes out of the TAP.
	in := frame(ifc.MAC, hostMAC.HardwareAddr, "from the host")
	if err := unix.Sendto(hostFD, in, 0, &unix.SockaddrLinklayer{Ifindex: ns.hostIndex, Halen: 6,
		Addr: [8]byte(append(append([]byte(nil), ifc.MAC...), 0, 0))}); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, tapFD, 10, "from the host"); !bytes.Equal(got, in) {
		t.Errorf("TAP got % x, want % x", got, in)
	}

	// A second VM on the same namespace is refused while this one lives.
	if _, err := Setup(ns.path); !errors.Is(err, ErrBusy) {
		t.Errorf("second Setup: %v, want ErrBusy", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if left := ns.leftovers(t); left != "" {
		t.Errorf("after Close: %s", left)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A VMM killed with SIGKILL closes its TAP (the kernel does) but leaves
// the redirect on eth0: Cleanup removes it, and Setup would have too.
func TestCleanupAfterKill(t *testing.T) {
	ns := newTestNS(t, 1500)
	n, err := Setup(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanup leaves a live VM's redirect alone (after waiting for it).
	start := time.Now()
	if err := Cleanup(ns.path, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "tc", "-n", ns.name, "filter", "show", "dev", "eth0", "ingress"); !strings.Contains(out, "Redirect") {
		t.Fatalf("Cleanup removed a live VM's redirect: %s", out)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Cleanup gave up on a live TAP after %v, before its wait", d)
	}
	// The kill: only the descriptors go (the handle's sockets too).
	n.Interfaces[0].TAP.Close()
	n.Interfaces[0].TAP = nil
	n.h.Close()
	n.h = nil
	n.ns.Close()
	n.ns = nil
	if out := run(t, "ip", "-n", ns.name, "-o", "link", "show"); strings.Contains(out, TAPSuffix) {
		t.Fatalf("the TAP outlived its descriptor: %s", out)
	}
	if !strings.Contains(ns.leftovers(t), "ingress") {
		t.Fatal("no ingress qdisc left to clean: the test proves nothing")
	}
	if err := Cleanup(ns.path, time.Second); err != nil {
		t.Fatal(err)
	}
	if left := ns.leftovers(t); left != "" {
		t.Errorf("after Cleanup: %s", left)
	}

	// A new Setup over a dangling redirect (no Cleanup) clears it.
	n2, err := Setup(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	n2.Interfaces[0].TAP.Close()
	n2.Interfaces[0].TAP = nil
	n3, err := Setup(ns.path)
	if err != nil {
		t.Fatalf("Setup over a dead VM's redirect: %v", err)
	}
	n2.Interfaces = nil // its redirect is n3's business now
	n2.Close()
	if err := n3.Close(); err != nil {
		t.Fatal(err)
	}
	if left := ns.leftovers(t); left != "" {
		t.Errorf("after the last Close: %s", left)
	}
	// A namespace that is gone has nothing to clean.
	if err := Cleanup("/run/netns/hull-no-such-netns", time.Second); err != nil {
		t.Errorf("Cleanup of a missing namespace: %v", err)
	}
	if _, err := Setup("/proc/self/ns/uts"); err == nil || !strings.Contains(err.Error(), "not a network namespace") {
		t.Errorf("Setup on a UTS namespace: %v", err)
	}
	// The host's own namespace: its interfaces must never be redirected.
	if _, err := Setup("/proc/thread-self/ns/net"); !errors.Is(err, ErrHostNetns) {
		t.Errorf("Setup on the host's namespace: %v, want ErrHostNetns", err)
	}
	if out := run(t, "tc", "qdisc", "show"); strings.Contains(out, "ingress") && strings.Contains(out, TAPSuffix) {
		t.Errorf("the host got hull's qdiscs: %s", out)
	}
}

// A namespace with only lo (CNI's "none") gives a Network without
// interfaces or routes, and creates nothing.
func TestSetupLoopbackOnly(t *testing.T) {
	testtier.RequireRoot(t)
	testtier.RequireTool(t, "ip")
	name := fmt.Sprintf("hulltclo%d", os.Getpid()%1000)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	n, err := Setup("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if len(n.Interfaces) != 0 || len(n.Routes) != 0 {
		t.Errorf("lo-only namespace: %+v", n)
	}
}
