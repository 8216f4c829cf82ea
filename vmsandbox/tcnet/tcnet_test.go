package tcnet

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func link(name string, index int, encap string, flags net.Flags) netlink.Link {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, byte(index)}
	if encap != "ether" {
		mac = nil
	}
	return &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index, EncapType: encap, Flags: flags, HardwareAddr: mac}}
}

func TestPick(t *testing.T) {
	up := net.FlagUp
	got, notes := pick([]netlink.Link{
		link("lo", 1, "loopback", up|net.FlagLoopback),
		link("eth1", 5, "ether", up),
		link("tunl0", 2, "ipip", 0),
		link("eth0", 3, "ether", up),
		link("tap0_hull", 6, "ether", up),
		link("eth2", 7, "ether", 0),
	})
	var names []string
	for _, l := range got {
		names = append(names, l.Attrs().Name)
	}
	if strings.Join(names, " ") != "eth0 eth1" {
		t.Errorf("picked %v, want eth0 eth1 (by index)", names)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"tunl0: not an Ethernet", "tap0_hull: a TAP of hull's", "eth2: down"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes %q lack %q", all, want)
		}
	}
	if strings.Contains(all, "lo") {
		t.Errorf("lo is not worth a note: %q", all)
	}
}

func ipnet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestGlobalAddrs(t *testing.T) {
	keep, skipped := globalAddrs([]netlink.Addr{
		{IPNet: ipnet("10.1.2.3/24"), Scope: unix.RT_SCOPE_UNIVERSE},
		{IPNet: ipnet("fe80::1/64"), Scope: unix.RT_SCOPE_LINK},
		{IPNet: ipnet("fd00::5/64"), Scope: unix.RT_SCOPE_UNIVERSE},
		{IPNet: &net.IPNet{IP: net.ParseIP("10.9.9.9"), Mask: net.CIDRMask(32, 32)}, Scope: unix.RT_SCOPE_UNIVERSE}, // 16-byte form
		{IPNet: ipnet("127.0.0.5/8"), Scope: unix.RT_SCOPE_HOST},
		{}, // no address at all
	})
	if fmt.Sprint(keep) != "[10.1.2.3/24 fd00::5/64 10.9.9.9/32]" {
		t.Errorf("kept %v", keep)
	}
	if fmt.Sprint(skipped) != "[fe80::1/64 127.0.0.5/8]" {
		t.Errorf("skipped %v", skipped)
	}
}

func TestConvertRoutes(t *testing.T) {
	names := map[int]string{3: "eth0"}
	routes := []netlink.Route{
		{LinkIndex: 3, Family: unix.AF_INET, Gw: net.ParseIP("10.1.2.1"), Type: unix.RTN_UNICAST, Protocol: unix.RTPROT_BOOT},
		{LinkIndex: 3, Family: unix.AF_INET, Dst: ipnet("10.1.2.0/24"), Protocol: unix.RTPROT_KERNEL, Scope: netlink.SCOPE_LINK},
		{LinkIndex: 3, Family: unix.AF_INET, Dst: ipnet("169.254.1.1/32"), Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_BOOT},
		{LinkIndex: 3, Family: unix.AF_INET6, Gw: net.ParseIP("fd00::1"), Protocol: unix.RTPROT_BOOT},
		{LinkIndex: 9, Family: unix.AF_INET, Dst: ipnet("192.168.0.0/16"), Gw: net.ParseIP("10.7.0.1")},
		{Family: unix.AF_INET, Dst: ipnet("10.66.0.0/16"), Type: unix.RTN_BLACKHOLE},
		{LinkIndex: 3, Family: unix.AF_INET, Dst: ipnet("10.77.0.0/16"), MultiPath: []*netlink.NexthopInfo{{LinkIndex: 3}}},
		{LinkIndex: 3, Family: unix.AF_INET, Dst: ipnet("10.88.0.0/16"), Gw: net.ParseIP("10.1.2.254"), Scope: netlink.SCOPE_UNIVERSE},
	}
	got, notes := convertRoutes(routes, names)
	want := []Route{
		{Dst: netip.MustParsePrefix("169.254.1.1/32"), Device: "eth0", Scope: "link"},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.1.2.1"), Device: "eth0"},
		{Dst: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("fd00::1"), Device: "eth0"},
		{Dst: netip.MustParsePrefix("10.88.0.0/16"), Gateway: netip.MustParseAddr("10.1.2.254"), Device: "eth0"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes\n got %v\nwant %v", got, want)
	}
	all := strings.Join(notes, "\n")
	for _, w := range []string{"192.168.0.0/16: not through", "10.66.0.0/16: type", "10.77.0.0/16: multipath"} {
		if !strings.Contains(all, w) {
			t.Errorf("notes %q lack %q", all, w)
		}
	}
	if strings.Contains(all, "10.1.2.0/24") {
		t.Errorf("a kernel prefix route is not worth a note: %q", all)
	}
}
