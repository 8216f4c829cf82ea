//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netSwitch on the kernel command line makes hello-init exercise the
// guest's first virtio-net device (tests/kvm TestLinuxNet): it brings eth0
// up as NetGuestAddr/30, sends a UDP datagram to the host side of the
// TAP (NetHostAddr, port NetUDPPort) and waits for its echo, then sends
// netTCPBytes over TCP (port NetTCPPort) and reads them back, printing:
//
//	hello-init: net eth0 mac=02:00:00:aa:bb:cc addr=10.213.0.2/30
//	hello-init: net udp reply="echo: hull-virtio-net ping"
//	hello-init: net tcp echoed=262144
//	hello-init: net done
//
// A failure prints "hello-init: net error: ..." instead. The addresses
// and ports are fixed: the kvm tier runs in the nested runner, whose L1
// has no other network.
const netSwitch = "hello.net=1"

// The host side (tests/kvm) uses the same values.
const (
	netGuestAddr = "10.213.0.2"
	netHostAddr  = "10.213.0.1"
	netUDPPort   = 7777
	netTCPPort   = 7778
	netPing      = "hull-virtio-net ping"
	netTCPBytes  = 256 << 10
	netTimeout   = 90 * time.Second // everything is emulated in the nested runner
)

func netChecks(console io.Writer) {
	if err := netCheck(console); err != nil {
		fmt.Fprintf(console, "hello-init: net error: %v\n", err)
		return
	}
	fmt.Fprintln(console, "hello-init: net done")
}

func netCheck(console io.Writer) error {
	if err := ifUp("eth0", net.ParseIP(netGuestAddr).To4(), net.CIDRMask(30, 32)); err != nil {
		return err
	}
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		return err
	}
	fmt.Fprintf(console, "hello-init: net eth0 mac=%s addr=%s/30\n", ifi.HardwareAddr, netGuestAddr)

	reply, err := udpPing()
	if err != nil {
		return err
	}
	fmt.Fprintf(console, "hello-init: net udp reply=%q\n", reply)

	n, err := tcpEcho()
	if err != nil {
		return err
	}
	fmt.Fprintf(console, "hello-init: net tcp echoed=%d\n", n)
	return nil
}

// ifUp gives interface name the address addr/mask and sets it up, with the
// SIOCSIF* ioctls (the kernel adds the subnet's route when it goes up).
func ifUp(name string, addr net.IP, mask net.IPMask) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(s)
	for _, set := range []struct {
		req uint
		ip  []byte
		op  string
	}{{unix.SIOCSIFADDR, addr, "SIOCSIFADDR"}, {unix.SIOCSIFNETMASK, mask, "SIOCSIFNETMASK"}} {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(set.ip); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(s, set.req, ifr); err != nil {
			return fmt.Errorf("%s %s: %w", set.op, name, err)
		}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS %s: %w", name, err)
	}
	return nil
}

// udpPing sends netPing to the host until the echo comes back (the first
// datagrams may go while ARP resolves) and returns it.
func udpPing() (string, error) {
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(netHostAddr), Port: netUDPPort})
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(netTimeout); time.Now().Before(deadline); {
		if _, err := c.Write([]byte(netPing)); err != nil && !errors.Is(err, unix.ECONNREFUSED) {
			return "", fmt.Errorf("udp send: %w", err)
		}
		if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			return "", err
		}
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, unix.ECONNREFUSED) {
			return "", fmt.Errorf("udp receive: %w", err)
		}
	}
	return "", fmt.Errorf("no UDP reply from %s:%d within %v", netHostAddr, netUDPPort, netTimeout)
}

// tcpEcho sends netTCPBytes to the host's echo server and reads them
// back: large writes go out as TSO frames when the driver negotiated
// HOST_TSO4, and come back in many frames.
func tcpEcho() (int, error) {
	d := net.Dialer{Timeout: netTimeout}
	c, err := d.Dial("tcp4", net.JoinHostPort(netHostAddr, strconv.Itoa(netTCPPort)))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(netTimeout)); err != nil {
		return 0, err
	}
	data := bytes.Repeat([]byte("hull virtio-net, both ways. "), netTCPBytes/28+1)[:netTCPBytes]
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	back, err := io.ReadAll(c)
	if err != nil {
		return len(back), fmt.Errorf("tcp read after %d bytes: %w", len(back), err)
	}
	if err := <-werr; err != nil {
		return len(back), fmt.Errorf("tcp write: %w", err)
	}
	if !bytes.Equal(back, data) {
		return len(back), fmt.Errorf("tcp echo: %d bytes back, different from the %d sent", len(back), len(data))
	}
	return len(back), nil
}

// hasSwitch reports whether the command line holds sw as a word.
func hasSwitch(cmdline, sw string) bool { return strings.Contains(" "+cmdline+" ", " "+sw+" ") }
