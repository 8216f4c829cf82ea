package vmsandbox

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	vnet "github.com/hullvm/hull/virtio/net"
	"github.com/hullvm/hull/vmsandbox/tcnet"
)

func testNetwork() *tcnet.Network {
	return &tcnet.Network{
		Path: "/run/netns/x",
		Interfaces: []tcnet.Interface{{Name: "eth0", Index: 2, MAC: net.HardwareAddr{0x0a, 0x58, 0x0a, 0xc8, 0, 2}, MTU: 1450,
			Addrs:   []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24"), netip.MustParsePrefix("fd00::2/64")},
			TAPName: "tap0_hull"}},
		Routes: []tcnet.Route{
			{Dst: netip.MustParsePrefix("169.254.1.1/32"), Device: "eth0", Scope: "link"},
			{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.200.0.1"), Device: "eth0"},
		},
	}
}

// The agent gets the namespace's interface and routes in the protocol's
// spelling, and that passes the protocol's own validation.
func TestGuestNetwork(t *testing.T) {
	got := guestNetwork(testNetwork())
	b, _ := json.Marshal(got)
	want := `{"interfaces":[{"name":"eth0","mac":"0a:58:0a:c8:00:02","mtu":1450,"addresses":["10.200.0.2/24","fd00::2/64"]}],` +
		`"routes":[{"dst":"169.254.1.1/32","device":"eth0","scope":"link"},{"dst":"0.0.0.0/0","gateway":"10.200.0.1","device":"eth0"}]}`
	if string(b) != want {
		t.Errorf("network\n got %s\nwant %s", b, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the agent would refuse it: %v", err)
	}
	if guestNetwork(&tcnet.Network{Path: "/run/netns/lo-only"}) != nil || guestNetwork(nil) != nil {
		t.Error("a namespace without interfaces gives the agent a network")
	}
}

// Each interface is a NIC on its TAP with its MAC; a MAC the device
// cannot take is an error, not a NIC with another address.
func TestGuestNICs(t *testing.T) {
	nets, err := guestNICs(testNetwork())
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || nets[0].Tap != "tap0_hull" || nets[0].MAC != (vnet.MAC{0x0a, 0x58, 0x0a, 0xc8, 0, 2}) {
		t.Errorf("NICs %+v", nets)
	}
	n := testNetwork()
	n.Interfaces[0].MAC = net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}
	if _, err := guestNICs(n); err == nil || !strings.Contains(err.Error(), "eth0") {
		t.Errorf("multicast MAC: %v", err)
	}
	n.Interfaces[0].MAC = net.HardwareAddr{2, 0, 0, 0, 0, 0, 0, 1}
	if _, err := guestNICs(n); err == nil || !strings.Contains(err.Error(), "8-byte") {
		t.Errorf("8-byte MAC: %v", err)
	}
}
