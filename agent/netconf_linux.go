package agent

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/hullvm/hull/agent/proto"
)

// netlinkOps is netOps on the agent's own network namespace (the guest's).
type netlinkOps struct{}

var _ netOps = netlinkOps{}

func (netlinkOps) Links() ([]guestLink, error) {
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	out := make([]guestLink, 0, len(ls))
	for _, l := range ls {
		a := l.Attrs()
		out = append(out, guestLink{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr})
	}
	return out, nil
}

func byIndex(index int) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
}

func (netlinkOps) SetName(index int, name string) error {
	return netlink.LinkSetName(byIndex(index), name)
}

func (netlinkOps) SetMTU(index, mtu int) error { return netlink.LinkSetMTU(byIndex(index), mtu) }

func (netlinkOps) SetUp(index int) error { return netlink.LinkSetUp(byIndex(index)) }

func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

func (netlinkOps) AddAddr(index int, p netip.Prefix) error {
	return netlink.AddrAdd(byIndex(index), &netlink.Addr{IPNet: ipNet(p)})
}

func (netlinkOps) AddRoute(r guestRoute) error {
	nr := &netlink.Route{LinkIndex: r.Index, Dst: ipNet(r.Dst.Masked())}
	if r.Gateway.IsValid() {
		nr.Gw = r.Gateway.AsSlice()
	}
	switch r.Scope {
	case proto.ScopeLink:
		nr.Scope = netlink.SCOPE_LINK
	case proto.ScopeHost:
		nr.Scope = netlink.SCOPE_HOST
	}
	return netlink.RouteAdd(nr)
}
