package proto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func goodNetwork() *Network {
	return &Network{
		Interfaces: []Interface{{Name: "eth0", MAC: "02:42:0a:c8:00:02", MTU: 1500,
			Addresses: []string{"10.200.0.2/24", "fd00::2/64"}}},
		Routes: []Route{
			{Dst: "169.254.1.1/32", Device: "eth0", Scope: ScopeLink},
			{Dst: "0.0.0.0/0", Gateway: "10.200.0.1", Device: "eth0"},
			{Dst: "::/0", Gateway: "fd00::1"},
		},
	}
}

func TestNetworkValidate(t *testing.T) {
	if err := goodNetwork().Validate(); err != nil {
		t.Fatalf("good network: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(n *Network)
		want string
	}{
		{"no name", func(n *Network) { n.Interfaces[0].Name = "" }, "1 to 15 bytes"},
		{"long name", func(n *Network) { n.Interfaces[0].Name = strings.Repeat("e", 16) }, "1 to 15 bytes"},
		{"slash in name", func(n *Network) { n.Interfaces[0].Name = "a/b" }, "invalid interface name"},
		{"lo", func(n *Network) { n.Interfaces[0].Name = "lo" }, "used twice (or lo)"},
		{"same name twice", func(n *Network) {
			n.Interfaces = append(n.Interfaces, Interface{Name: "eth0", MAC: "02:00:00:00:00:09"})
		}, "used twice"},
		{"same MAC twice", func(n *Network) {
			n.Interfaces = append(n.Interfaces, Interface{Name: "eth1", MAC: "02:42:0A:C8:00:02"})
		}, "given twice"},
		{"bad MAC", func(n *Network) { n.Interfaces[0].MAC = "02:42:0a" }, "not a unicast"},
		{"multicast MAC", func(n *Network) { n.Interfaces[0].MAC = "01:00:5e:00:00:01" }, "not a unicast"},
		{"long MAC", func(n *Network) { n.Interfaces[0].MAC = "02:00:00:00:00:00:00:01" }, "not a unicast"},
		{"MTU low", func(n *Network) { n.Interfaces[0].MTU = 67 }, "MTU 67"},
		{"MTU high", func(n *Network) { n.Interfaces[0].MTU = 65536 }, "MTU 65536"},
		{"address not CIDR", func(n *Network) { n.Interfaces[0].Addresses = []string{"10.0.0.2"} }, "CIDR"},
		{"too many addresses", func(n *Network) {
			n.Interfaces[0].Addresses = make([]string, MaxAddresses+1)
		}, "addresses (at most"},
		{"too many interfaces", func(n *Network) { n.Interfaces = make([]Interface, MaxInterfaces+1) }, "interfaces (at most"},
		{"too many routes", func(n *Network) { n.Routes = make([]Route, MaxRoutes+1) }, "routes (at most"},
		{"route dst", func(n *Network) { n.Routes[1].Dst = "default" }, "0.0.0.0/0"},
		{"route host bits", func(n *Network) { n.Routes[1].Dst = "10.0.0.1/8" }, "host bits"},
		{"route gateway", func(n *Network) { n.Routes[1].Gateway = "gw" }, "not an IP"},
		{"route family", func(n *Network) { n.Routes[1].Gateway = "fd00::1" }, "different families"},
		{"route device", func(n *Network) { n.Routes[1].Device = "eth7" }, "not one of the interfaces"},
		{"route nothing", func(n *Network) { n.Routes[1].Gateway, n.Routes[1].Device = "", "" }, "neither"},
		{"route scope", func(n *Network) { n.Routes[0].Scope = "site" }, "unknown scope"},
	} {
		n := goodNetwork()
		c.edit(n)
		err := n.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// A create with a bad network is a bad request; a good one goes through
// and survives the JSON round trip.
func TestValidateCreateNetwork(t *testing.T) {
	args := CreateArgs{ID: "c", Bundle: "/b", Spec: json.RawMessage(`{}`), Stdio: StdioStream, Network: goodNetwork()}
	b, _ := json.Marshal(args)
	got, err := (&Request{Op: OpCreate, Args: b}).Validate()
	if err != nil {
		t.Fatal(err)
	}
	if n := got.(*CreateArgs).Network; n == nil || len(n.Routes) != 3 || n.Interfaces[0].Addresses[1] != "fd00::2/64" {
		t.Errorf("decoded network %+v", n)
	}
	args.Network.Routes[0].Device = "wlan0"
	b, _ = json.Marshal(args)
	_, err = (&Request{Op: OpCreate, Args: b}).Validate()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadRequest || !strings.Contains(e.Message, "wlan0") {
		t.Errorf("bad route device: %v", err)
	}
}
