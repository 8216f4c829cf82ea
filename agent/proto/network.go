package proto

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Network (1.2) is the network a guest's interfaces get before its
// container is created: in the vm sandbox, the interfaces and routes of
// the network namespace config.json names by path (CNI's), whose traffic
// the VMM redirects to the guest's NICs (docs/agent-protocol.md).
type Network struct {
	Interfaces []Interface `json:"interfaces"`
	// Routes are added after every interface is up, in order (a gateway
	// must be reachable through a route before it: link-scope ones first).
	Routes []Route `json:"routes,omitempty"`
}

// Interface is one NIC of the guest, found by its MAC address.
type Interface struct {
	// Name the NIC gets in the guest (the namespace's name: eth0).
	Name string `json:"name"`
	// MAC identifies the guest's NIC ("02:00:00:00:00:01").
	MAC string `json:"mac"`
	// MTU; 0 leaves the guest's default.
	MTU int `json:"mtu,omitempty"`
	// Addresses in CIDR notation ("10.0.0.2/24", "fd00::2/64").
	Addresses []string `json:"addresses,omitempty"`
}

// Route is one route of the main table.
type Route struct {
	// Dst in CIDR notation; a default route is "0.0.0.0/0" or "::/0".
	Dst string `json:"dst"`
	// Gateway, when set, is the next hop's address.
	Gateway string `json:"gateway,omitempty"`
	// Device, when set, names one of the Interfaces.
	Device string `json:"device,omitempty"`
	// Scope is "" (universe), "link" or "host".
	Scope string `json:"scope,omitempty"`
}

// Limits on a Network.
const (
	MaxInterfaces = 16
	MaxAddresses  = 64 // per interface
	MaxRoutes     = 256
	MinMTU        = 68
	MaxMTU        = 65535
)

// Route scopes.
const (
	ScopeLink = "link"
	ScopeHost = "host"
)

// Validate checks n: names, addresses and routes parse, routes name known
// interfaces and gateways of their own family, within the limits.
func (n *Network) Validate() error {
	if len(n.Interfaces) > MaxInterfaces {
		return fmt.Errorf("network: %d interfaces (at most %d)", len(n.Interfaces), MaxInterfaces)
	}
	if len(n.Routes) > MaxRoutes {
		return fmt.Errorf("network: %d routes (at most %d)", len(n.Routes), MaxRoutes)
	}
	names := map[string]bool{}
	macs := map[string]bool{}
	for i, ifc := range n.Interfaces {
		if err := ValidIfName(ifc.Name); err != nil {
			return fmt.Errorf("network: interface %d: %v", i, err)
		}
		if ifc.Name == "lo" || names[ifc.Name] {
			return fmt.Errorf("network: interface name %q used twice (or lo)", ifc.Name)
		}
		names[ifc.Name] = true
		mac, err := net.ParseMAC(ifc.MAC)
		if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
			return fmt.Errorf("network: interface %s: MAC %q is not a unicast Ethernet address", ifc.Name, clip(ifc.MAC))
		}
		if macs[mac.String()] {
			return fmt.Errorf("network: MAC %s given twice", mac)
		}
		macs[mac.String()] = true
		if ifc.MTU != 0 && (ifc.MTU < MinMTU || ifc.MTU > MaxMTU) {
			return fmt.Errorf("network: interface %s: MTU %d out of range %d-%d", ifc.Name, ifc.MTU, MinMTU, MaxMTU)
		}
		if len(ifc.Addresses) > MaxAddresses {
			return fmt.Errorf("network: interface %s: %d addresses (at most %d)", ifc.Name, len(ifc.Addresses), MaxAddresses)
		}
		for _, a := range ifc.Addresses {
			if _, err := netip.ParsePrefix(a); err != nil {
				return fmt.Errorf("network: interface %s: address %q: want CIDR notation", ifc.Name, clip(a))
			}
		}
	}
	for i, r := range n.Routes {
		if err := r.check(names); err != nil {
			return fmt.Errorf("network: route %d: %v", i, err)
		}
	}
	return nil
}

func (r *Route) check(names map[string]bool) error {
	dst, err := netip.ParsePrefix(r.Dst)
	if err != nil {
		return fmt.Errorf("dst %q: want CIDR notation (0.0.0.0/0 for a default route)", clip(r.Dst))
	}
	if dst != dst.Masked() {
		return fmt.Errorf("dst %s has host bits set", dst)
	}
	if r.Gateway != "" {
		gw, err := netip.ParseAddr(r.Gateway)
		if err != nil {
			return fmt.Errorf("gateway %q is not an IP address", clip(r.Gateway))
		}
		if gw.Is4() != dst.Addr().Is4() {
			return fmt.Errorf("gateway %s and dst %s are of different families", gw, dst)
		}
	}
	if r.Device != "" && !names[r.Device] {
		return fmt.Errorf("device %q is not one of the interfaces", clip(r.Device))
	}
	if r.Device == "" && r.Gateway == "" {
		return fmt.Errorf("%s has neither a gateway nor a device", dst)
	}
	switch r.Scope {
	case "", ScopeLink, ScopeHost:
	default:
		return fmt.Errorf("unknown scope %q (want \"\", link or host)", clip(r.Scope))
	}
	return nil
}

// ValidIfName reports whether name can name a network interface: what the
// kernel's dev_valid_name accepts (1 to 15 bytes, no '/', ':' or white
// space, not . or ..).
func ValidIfName(name string) error {
	switch {
	case name == "" || len(name) > 15:
		return fmt.Errorf("interface name %q: want 1 to 15 bytes", clip(name))
	case name == "." || name == "..", strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return fmt.Errorf("invalid interface name %q", clip(name))
	}
	return nil
}
