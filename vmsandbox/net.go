package vmsandbox

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/runtime"
	vnet "github.com/hullvm/hull/virtio/net"
	"github.com/hullvm/hull/vmm"
	"github.com/hullvm/hull/vmsandbox/tcnet"
)

// Networking (runtime/vmnet.go, vmsandbox/tcnet): a config that joins a
// network namespace by path gets that namespace's interfaces in the guest,
// each through a TAP created in the namespace and tc redirects between
// the two; the agent gives the guest's NICs the interfaces' names, MTUs,
// addresses and the namespace's routes (proto.Network).

// setupNetwork connects the namespace the config names, if any, and
// returns the guest's NICs; h.net and h.guestNet keep the rest.
func (h *vmHost) setupNetwork(spec *specs.Spec) ([]vmm.Net, error) {
	path := runtime.NetnsPath(spec)
	if path == "" {
		return nil, nil
	}
	n, err := tcnet.Setup(path)
	if err != nil {
		return nil, err
	}
	h.net = n
	for _, note := range n.Notes {
		h.log.Printf("network %s: %s", path, note)
	}
	nets, err := guestNICs(n)
	if err != nil {
		return nil, err
	}
	h.guestNet = guestNetwork(n)
	for _, ifc := range n.Interfaces {
		h.log.Printf("network %s: %s (%s, MTU %d, %v) through %s", path, ifc.Name, ifc.MAC, ifc.MTU, ifc.Addrs, ifc.TAPName)
	}
	return nets, nil
}

// guestNICs is a virtio-net device per interface, on its TAP, with its MAC.
func guestNICs(n *tcnet.Network) ([]vmm.Net, error) {
	var nets []vmm.Net
	for _, ifc := range n.Interfaces {
		var mac vnet.MAC
		if len(ifc.MAC) != len(mac) {
			return nil, fmt.Errorf("network: %s has a %d-byte MAC address", ifc.Name, len(ifc.MAC))
		}
		copy(mac[:], ifc.MAC)
		if err := mac.Check(); err != nil {
			return nil, fmt.Errorf("network: %s: %w", ifc.Name, err)
		}
		nets = append(nets, vmm.Net{Tap: ifc.TAPName, File: ifc.TAP, MAC: mac})
	}
	return nets, nil
}

// guestNetwork is what the agent configures; nil when no interface is
// passed on (the guest then has lo only).
func guestNetwork(n *tcnet.Network) *proto.Network {
	if n == nil || len(n.Interfaces) == 0 {
		return nil
	}
	out := &proto.Network{}
	for _, ifc := range n.Interfaces {
		pi := proto.Interface{Name: ifc.Name, MAC: ifc.MAC.String(), MTU: ifc.MTU}
		for _, a := range ifc.Addrs {
			pi.Addresses = append(pi.Addresses, a.String())
		}
		out.Interfaces = append(out.Interfaces, pi)
	}
	for _, r := range n.Routes {
		pr := proto.Route{Dst: r.Dst.String(), Device: r.Device, Scope: r.Scope}
		if r.Gateway.IsValid() {
			pr.Gateway = r.Gateway.String()
		}
		out.Routes = append(out.Routes, pr)
	}
	return out
}

// networkFor returns the create's Network, refusing an agent too old to
// configure it (a guest image built before protocol 1.2).
func (h *vmHost) networkFor(cl *proto.Client) (*proto.Network, error) {
	if h.guestNet == nil {
		return nil, nil
	}
	if v := cl.Version; v.Major == proto.Version.Major && v.Minor < 2 {
		return nil, fmt.Errorf("the guest image's agent speaks protocol %s and cannot configure the network (1.2): rebuild the image (hull image build)", v)
	}
	return h.guestNet, nil
}

// closeNetwork removes the redirects and closes the TAPs (the VMM has
// stopped, or never started).
func (h *vmHost) closeNetwork() {
	if h.net == nil {
		return
	}
	if err := h.net.Close(); err != nil {
		h.log.Printf("network %s: cleaning up: %v", h.net.Path, err)
	}
	h.net = nil
}
