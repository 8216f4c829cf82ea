package net

import (
	"bytes"
	"errors"
	stdnet "net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
)

// attachedTUN opens /dev/net/tun and attaches it to a new interface named
// from pattern with flags, as vmsandbox/tcnet does inside a container's
// network namespace.
func attachedTUN(t *testing.T, pattern string, flags uint16) *os.File {
	t.Helper()
	testtier.RequireRoot(t)
	if _, err := os.Stat(tunPath); err != nil {
		t.Skipf("no %s (the tun module is not loaded): %v", tunPath, err)
	}
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), tunPath)
	t.Cleanup(func() { f.Close() })
	if pattern == "" {
		return f // not attached
	}
	ifr, _ := unix.NewIfreq(pattern)
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTAPFromFile: a TAP attached elsewhere works as one OpenTAP made
// (vnet header and offloads set up), through a duplicate that outlives
// the caller's file; the interface goes when both are closed.
func TestTAPFromFile(t *testing.T) {
	f := attachedTUN(t, "hullft%d", unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR)
	tap, err := TAPFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	if tap.Offloads()&TUN_F_CSUM == 0 {
		t.Errorf("offloads %#x: this kernel's TAP takes checksum offload", tap.Offloads())
	}
	if tap.FD() == int(f.Fd()) {
		t.Fatal("TAPFromFile uses the caller's descriptor, not a duplicate")
	}
	if fl, _ := unix.FcntlInt(uintptr(tap.FD()), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
		t.Error("the TAP's descriptor is blocking")
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+tap.Name()+"/disable_ipv6", []byte("1"), 0o644)
	if err := setLinkUp(tap.Name()); err != nil {
		t.Fatal(err)
	}
	ifi, err := stdnet.InterfaceByName(tap.Name())
	if err != nil {
		t.Fatal(err)
	}
	ps := newPacketSocket(t, ifi.Index, etherTest)
	if err := f.Close(); err != nil { // the caller's copy goes: the TAP stays
		t.Fatal(err)
	}
	// A frame with a 12-byte virtio_net_hdr_v1 (the size TAPFromFile set)
	// comes out of the interface without it.
	frame := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, etherTest >> 8, etherTest & 0xff},
		"through a duplicate"...)
	if _, err := tap.Write([][]byte{make([]byte, HdrLen), frame}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, got := ps.recv(t, func(b []byte) bool { return bytes.HasSuffix(b, []byte("through a duplicate")) }); !bytes.Equal(got, frame) {
		t.Errorf("frame % x, want % x", got, frame)
	}
	name := tap.Name()
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := stdnet.InterfaceByName(name); err == nil {
		t.Errorf("%s outlived both descriptors", name)
	}
}

func TestTAPFromFileRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		pattern string
		flags   uint16
	}{
		{"no vnet header", "hullft%d", unix.IFF_TAP | unix.IFF_NO_PI},
		{"a TUN", "hullft%d", unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR},
		{"multi-queue", "hullft%d", unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_MULTI_QUEUE},
		{"not attached", "", 0},
	} {
		f := attachedTUN(t, c.pattern, c.flags)
		if tap, err := TAPFromFile(f); !errors.Is(err, ErrNotTAP) {
			t.Errorf("%s: %v, want ErrNotTAP", c.name, err)
			if tap != nil {
				tap.Close()
			}
		}
	}
	plain, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := TAPFromFile(plain); !errors.Is(err, ErrNotTAP) {
		t.Errorf("a plain file: %v, want ErrNotTAP", err)
	}
	if _, err := TAPFromFile(nil); !errors.Is(err, ErrNotTAP) {
		t.Errorf("nil: %v, want ErrNotTAP", err)
	}
}
