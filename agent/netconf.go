package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// The guest's network (protocol 1.2, proto.Network): in the vm sandbox
// the VMM passes the interfaces of the container's network namespace on
// to the guest's NICs, one each, with the interface's MAC; hull-agent
// finds each NIC by that MAC, gives it the interface's name, MTU and
// addresses, brings it up and adds the routes. The container then shares
// the guest's network namespace (shareGuestNetns).

// guestLink is a network interface of the guest.
type guestLink struct {
	Index int
	Name  string
	MAC   net.HardwareAddr
}

// guestRoute is a proto.Route with its device resolved.
type guestRoute struct {
	Dst     netip.Prefix
	Gateway netip.Addr // invalid: none
	Index   int        // 0: none
	Scope   string     // "", "link" or "host"
}

// netOps is what configureNetwork does to the guest: netlink in hull-agent
// (netconf_linux.go), a recorder in tests.
type netOps interface {
	Links() ([]guestLink, error)
	SetName(index int, name string) error // the link is down
	SetMTU(index, mtu int) error
	AddAddr(index int, p netip.Prefix) error
	SetUp(index int) error
	AddRoute(r guestRoute) error
}

// configureNetwork applies n (validated by proto) to the guest. An IPv6
// address or route that the guest's kernel refuses for want of IPv6
// (EAFNOSUPPORT: the default image has none) is skipped with a log line;
// any other failure is an error.
func configureNetwork(ops netOps, n *proto.Network, logf func(string, ...any)) error {
	links, err := ops.Links()
	if err != nil {
		return fmt.Errorf("network: listing the guest's interfaces: %w", err)
	}
	byName := map[string]int{} // name -> index in links
	for i, l := range links {
		byName[l.Name] = i
	}
	index := map[string]int{} // configured name -> ifindex
	for _, ifc := range n.Interfaces {
		mac, err := net.ParseMAC(ifc.MAC)
		if err != nil {
			return fmt.Errorf("network: %s: MAC %q: %w", ifc.Name, ifc.MAC, err)
		}
		i := -1
		for j, l := range links {
			if l.MAC.String() == mac.String() {
				i = j
			}
		}
		if i < 0 {
			var have []string
			for _, l := range links {
				if len(l.MAC) > 0 {
					have = append(have, l.Name+" "+l.MAC.String())
				}
			}
			return fmt.Errorf("network: no guest NIC has %s's MAC %s (the guest has: %s)", ifc.Name, mac, strings.Join(have, ", "))
		}
		l := &links[i]
		if l.Name != ifc.Name {
			// Another NIC may carry the name already (the kernel's eth0
			// for what should be eth1): it moves aside first.
			if j, taken := byName[ifc.Name]; taken {
				aside := fmt.Sprintf("hull%d", links[j].Index)
				if err := ops.SetName(links[j].Index, aside); err != nil {
					return fmt.Errorf("network: renaming %s to %s: %w", links[j].Name, aside, err)
				}
				delete(byName, links[j].Name)
				links[j].Name = aside
				byName[aside] = j
			}
			if err := ops.SetName(l.Index, ifc.Name); err != nil {
				return fmt.Errorf("network: renaming %s to %s: %w", l.Name, ifc.Name, err)
			}
			delete(byName, l.Name)
			l.Name = ifc.Name
			byName[ifc.Name] = i
		}
		if ifc.MTU != 0 {
			if err := ops.SetMTU(l.Index, ifc.MTU); err != nil {
				return fmt.Errorf("network: %s: MTU %d: %w", ifc.Name, ifc.MTU, err)
			}
		}
		for _, a := range ifc.Addresses {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return fmt.Errorf("network: %s: address %q: %w", ifc.Name, a, err)
			}
			if err := ops.AddAddr(l.Index, p); err != nil {
				if noIPv6(p.Addr(), err) {
					logf("network: %s: address %s skipped: the guest kernel has no IPv6", ifc.Name, p)
					continue
				}
				return fmt.Errorf("network: %s: address %s: %w", ifc.Name, p, err)
			}
		}
		if err := ops.SetUp(l.Index); err != nil {
			return fmt.Errorf("network: %s: up: %w", ifc.Name, err)
		}
		index[ifc.Name] = l.Index
	}
	for _, r := range n.Routes {
		dst, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			return fmt.Errorf("network: route %q: %w", r.Dst, err)
		}
		gr := guestRoute{Dst: dst, Scope: r.Scope}
		if r.Gateway != "" {
			if gr.Gateway, err = netip.ParseAddr(r.Gateway); err != nil {
				return fmt.Errorf("network: route %s: gateway %q: %w", dst, r.Gateway, err)
			}
		}
		if r.Device != "" {
			if gr.Index = index[r.Device]; gr.Index == 0 {
				return fmt.Errorf("network: route %s: no interface %s", dst, r.Device)
			}
		}
		if err := ops.AddRoute(gr); err != nil {
			if noIPv6(dst.Addr(), err) {
				logf("network: route %s skipped: the guest kernel has no IPv6", dst)
				continue
			}
			return fmt.Errorf("network: route %s%s: %w", dst, viaText(r), err)
		}
	}
	return nil
}

func viaText(r proto.Route) string {
	s := ""
	if r.Gateway != "" {
		s += " via " + r.Gateway
	}
	if r.Device != "" {
		s += " dev " + r.Device
	}
	return s
}

func noIPv6(a netip.Addr, err error) bool {
	return a.Is6() && !a.Is4In6() && errors.Is(err, unix.EAFNOSUPPORT)
}

// shareGuestNetns rewrites a config for the vm sandbox: a network
// namespace named by path is the host's (CNI's), whose interfaces the VMM
// passed on to this guest, so the container shares the guest's network
// namespace (the agent's) instead: the entry goes, and with it the join
// of a path that means nothing in the guest. A network entry without a
// path still asks for a new, empty namespace (lo only).
func shareGuestNetns(spec *specs.Spec) {
	if spec.Linux == nil {
		return
	}
	out := spec.Linux.Namespaces[:0:0]
	for _, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace && n.Path != "" {
			continue
		}
		out = append(out, n)
	}
	spec.Linux.Namespaces = out
}
