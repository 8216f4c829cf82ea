package kvmtests

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
	vnet "github.com/hullvm/hull/virtio/net"
	"github.com/hullvm/hull/vmm"
)

// The addresses hello-init's net check uses (tests/guest/hello-init/net.go).
const (
	netTap      = "hullkvm0"
	netHostAddr = "10.213.0.1"
	netUDPPort  = 7777
	netTCPPort  = 7778
	netTCPBytes = 256 << 10
)

// TestLinuxNet boots the guest kernel with a virtio-net device on a TAP
// whose host side is 10.213.0.1/30, and hello-init with hello.net=1, which
// brings eth0 up as 10.213.0.2/30, sends a UDP datagram that the test
// echoes, and sends 256 KiB over TCP that the test echoes back (large TCP
// writes leave the guest as TSO frames). Checked: the guest's MAC is the
// configured one, the UDP reply and the TCP bytes arrived intact on both
// sides, and the device dropped nothing.
func TestLinuxNet(t *testing.T) {
	testtier.RequireKVM(t)
	testtier.RequireRoot(t)
	kernel := testtier.RequireFile(t, envKernel, "guest kernel (vmlinux)")
	initBin := testtier.RequireFile(t, envInit, "hello-init binary")
	initrd := writeInitrd(t, initBin)
	persistentTAP(t, netTap, netHostAddr, 30)

	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(netHostAddr), Port: netUDPPort})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := udp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = udp.WriteToUDP(append([]byte("echo: "), buf[:n]...), from) // the guest retries
		}
	}()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(netHostAddr), Port: netTCPPort})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoed := make(chan int64, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			echoed <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(c, c)
		_ = c.CloseWrite()
		echoed <- n
	}()

	mac := vnet.MAC{0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc}
	const done = "hello-init: net done"
	cfg := vmm.Config{
		Kernel: kernel, Initrd: initrd, Cmdline: linuxCmdline() + " hello.net=1", MemMiB: 256,
		Nets: []vmm.Net{{Tap: netTap, MAC: mac}},
	}
	r := boot(t, cfg, linuxTimeout, done)
	if at := r.con.seenAt(done); !at.IsZero() {
		t.Logf("Linux with virtio-net: UDP and TCP echo done after %v", at.Sub(r.start).Round(1e6))
	}
	if line := lineWith(r.out, "net error"); line != "" {
		t.Errorf("guest: %s", line)
	}
	if want := fmt.Sprintf("hello-init: net eth0 mac=%s addr=10.213.0.2/30", mac); lineWith(r.out, "hello-init: net eth0") != want {
		t.Errorf("guest printed %q, want %q", lineWith(r.out, "hello-init: net eth0"), want)
	}
	if want := `hello-init: net udp reply="echo: hull-virtio-net ping"`; lineWith(r.out, "hello-init: net udp") != want {
		t.Errorf("guest printed %q, want %q", lineWith(r.out, "hello-init: net udp"), want)
	}
	if want := fmt.Sprintf("hello-init: net tcp echoed=%d", netTCPBytes); lineWith(r.out, "hello-init: net tcp") != want {
		t.Errorf("guest printed %q, want %q", lineWith(r.out, "hello-init: net tcp"), want)
	}
	if lineWith(r.out, done) == "" {
		t.Error("hello-init did not finish its net checks")
	}
	select {
	case n := <-echoed:
		if n != netTCPBytes {
			t.Errorf("the host echoed %d TCP bytes, want %d", n, netTCPBytes)
		}
	case <-time.After(5 * time.Second):
		t.Error("the host's TCP echo did not finish")
	}
	wantStop(t, r, vmm.ReasonReset, 0)
}

// persistentTAP creates TAP name as a persistent interface with addr/bits
// and sets it up, so that the VMM attaches to a configured TAP; it is
// deleted when the test ends. In the nested runner the tun module may not
// be loaded yet: modprobe loads it.
func persistentTAP(t *testing.T, name, addr string, bits int) {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); errors.Is(err, os.ErrNotExist) {
		out, err := exec.Command("modprobe", "tun").CombinedOutput()
		if err != nil {
			t.Fatalf("no /dev/net/tun, and modprobe tun: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	if err := tunPersist(name, true); err != nil {
		t.Fatalf("creating TAP %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := tunPersist(name, false); err != nil {
			t.Errorf("deleting TAP %s: %v", name, err)
		}
	})
	if err := ifConfig(name, net.ParseIP(addr).To4(), net.CIDRMask(bits, 32)); err != nil {
		t.Fatalf("configuring TAP %s: %v", name, err)
	}
}

// tunPersist attaches to TAP name (creating it) and sets TUNSETPERSIST:
// on, it outlives this file descriptor; off, it goes with it.
func tunPersist(name string, on bool) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	v := 0
	if on {
		v = 1
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, v); err != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", err)
	}
	return nil
}

// ifConfig gives interface name the address addr/mask and sets it up.
func ifConfig(name string, addr net.IP, mask net.IPMask) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	for _, set := range []struct {
		req uint
		ip  []byte
	}{{unix.SIOCSIFADDR, addr}, {unix.SIOCSIFNETMASK, mask}} {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(set.ip); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(s, set.req, ifr); err != nil {
			return err
		}
	}
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
