// Package tcnet connects a container's network namespace to its microVM
// the way Kata Containers' "tcfilter" model does: for each Ethernet
// interface of the namespace (typically CNI's veth eth0) it creates a TAP
// inside that namespace and redirects every frame between the two with tc
// (an ingress qdisc on each and a match-all u32 filter whose mirred action
// redirects to the other's egress). The VMM gives the TAP to the guest's
// NIC, with the interface's MAC; the guest's agent gives that NIC the
// interface's name, MTU, addresses and the namespace's routes
// (agent/proto.Network). The namespace's interface keeps its addresses:
// its own stack no longer sees the frames that arrive (the filter steals
// them), and the guest answers for those addresses.
//
// The package imports neither vmm nor runtime: the VMM process
// (vmsandbox) calls Setup and Network.Close, and `hull delete` calls
// Cleanup for what a VMM killed with SIGKILL left behind.
package tcnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// FilterPriority is the tc priority of hull's redirect filters: Cleanup
// recognises them by it (tc shows it as "pref 19528").
const FilterPriority = 0x4c48

// TAPSuffix ends the name of each TAP Setup creates (tap0_hull, ...);
// interfaces so named are never passed on to a guest.
const TAPSuffix = "_hull"

// Errors Setup returns (wrapped).
var (
	// ErrBusy: another VM already redirects the namespace's interface.
	ErrBusy = errors.New("tcnet: the network namespace is in use by another hull VM")
	// ErrHostNetns: the namespace is the caller's own (the host's):
	// redirecting its interfaces would take the host's network away.
	ErrHostNetns = errors.New("tcnet: the network namespace is the host's own")
)

// Interface is one namespace interface passed on to the guest.
type Interface struct {
	Name  string // in the namespace (eth0): the guest's NIC gets it too
	Index int
	MAC   net.HardwareAddr
	MTU   int
	// Addrs are its global-scope addresses.
	Addrs []netip.Prefix
	// TAPName is the TAP created beside it; TAP is that TAP's
	// /dev/net/tun file (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, not persistent:
	// the interface goes when the last descriptor of it is closed).
	TAPName string
	TAP     *os.File

	tapIndex    int
	haveQdisc   bool // ingress qdisc on Index was there before Setup
	redirecting bool // the filter on Index is in place
}

// Route is a route of the namespace's main table that the guest gets.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // invalid: none
	Device  string     // one of the Interfaces' names; "" for none
	Scope   string     // "", "link" or "host" (agent/proto's spelling)
}

// Network is what Setup did in one namespace.
type Network struct {
	Path       string
	Interfaces []Interface
	Routes     []Route
	// Notes say what was left out, and why (for the VMM's log).
	Notes []string

	ns *os.File
	h  *netlink.Handle
}

// Setup connects each Ethernet interface of the network namespace at path
// (not lo, not down, not a TAP of ours) to a new TAP in that namespace
// and records the interfaces' addresses and the namespace's routes. A
// namespace with no such interface gives a Network without interfaces.
// On error nothing Setup made stays.
func Setup(path string) (n *Network, err error) {
	ns, h, err := open(path)
	if err != nil {
		return nil, err
	}
	if same, serr := sameFile(ns, "/proc/thread-self/ns/net"); serr != nil || same {
		h.Close()
		ns.Close()
		if serr != nil {
			return nil, fmt.Errorf("tcnet: %w", serr)
		}
		return nil, fmt.Errorf("%w: %s (host networking: the vm sandbox cannot give a VM the host's interfaces)", ErrHostNetns, path)
	}
	n = &Network{Path: path, ns: ns, h: h}
	defer func() {
		if err != nil {
			_ = n.Close() // the setup error is the one to report
			n = nil
		}
	}()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("tcnet: listing the interfaces of %s: %w", path, err)
	}
	picked, notes := pick(links)
	n.Notes = append(n.Notes, notes...)
	for i, l := range picked {
		a := l.Attrs()
		ifc := Interface{Name: a.Name, Index: a.Index, MAC: append(net.HardwareAddr(nil), a.HardwareAddr...),
			MTU: a.MTU, TAPName: fmt.Sprintf("tap%d%s", i, TAPSuffix)}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("tcnet: addresses of %s: %w", a.Name, err)
		}
		var skipped []string
		ifc.Addrs, skipped = globalAddrs(addrs)
		for _, s := range skipped {
			n.Notes = append(n.Notes, fmt.Sprintf("%s: address %s is not global scope: not passed on", a.Name, s))
		}
		n.Interfaces = append(n.Interfaces, ifc)
		if err := n.connect(&n.Interfaces[len(n.Interfaces)-1]); err != nil {
			return nil, err
		}
	}
	if len(n.Interfaces) > 0 {
		routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("tcnet: routes of %s: %w", path, err)
		}
		names := map[int]string{}
		for _, ifc := range n.Interfaces {
			names[ifc.Index] = ifc.Name
		}
		var notes []string
		n.Routes, notes = convertRoutes(routes, names)
		n.Notes = append(n.Notes, notes...)
	}
	return n, nil
}

// open opens the namespace and a netlink handle inside it.
func open(path string) (*os.File, *netlink.Handle, error) {
	ns, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("tcnet: network namespace: %w", err)
	}
	typ, err := unix.IoctlRetInt(int(ns.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || typ != unix.CLONE_NEWNET {
		ns.Close()
		return nil, nil, fmt.Errorf("tcnet: %s is not a network namespace (linux.namespaces: a network entry's path must name one, such as /var/run/netns/NAME)", path)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("tcnet: netlink in %s: %w", path, err)
	}
	return ns, h, nil
}

// sameFile reports whether f and the file at path are one (namespaces:
// one namespace). The host's namespace is /proc/thread-self's: after
// createTAP, /proc/self's may be a container's (a goroutine that ends
// locked to the main thread wedges that thread, in the namespace it
// entered, rather than ending it).
func sameFile(f *os.File, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, os.NewSyscallError("fstat", err)
	}
	if err := unix.Stat(path, &b); err != nil {
		return false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// pick chooses the interfaces to pass on: Ethernet ones that are up, not
// loopback and not a TAP of ours (sorted by index, so eth0 before eth1 as
// the kernel made them).
func pick(links []netlink.Link) ([]netlink.Link, []string) {
	var out []netlink.Link
	var notes []string
	for _, l := range links {
		a := l.Attrs()
		switch {
		case a.Flags&net.FlagLoopback != 0:
		case strings.HasSuffix(a.Name, TAPSuffix):
			notes = append(notes, fmt.Sprintf("%s: a TAP of hull's: not passed on", a.Name))
		case a.EncapType != "ether" || len(a.HardwareAddr) != 6:
			notes = append(notes, fmt.Sprintf("%s: not an Ethernet interface (%s %s): not passed on", a.Name, l.Type(), a.EncapType))
		case a.Flags&net.FlagUp == 0:
			notes = append(notes, fmt.Sprintf("%s: down: not passed on", a.Name))
		default:
			out = append(out, l)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Attrs().Index < out[j].Attrs().Index })
	return out, notes
}

// globalAddrs returns the universe-scope addresses (link-local and host
// ones are the guest kernel's own business), and the others as text.
func globalAddrs(addrs []netlink.Addr) (keep []netip.Prefix, skipped []string) {
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		if a.Scope != unix.RT_SCOPE_UNIVERSE {
			skipped = append(skipped, p.String())
			continue
		}
		keep = append(keep, p)
	}
	return keep, skipped
}

// convertRoutes keeps the unicast routes through the passed-on interfaces
// that the guest's kernel does not make by itself (proto kernel: the
// prefix routes of its addresses), link-scope ones first so that gateways
// are reachable when the routes through them are added.
func convertRoutes(routes []netlink.Route, names map[int]string) ([]Route, []string) {
	var out []Route
	var notes []string
	for _, r := range routes {
		dev := names[r.LinkIndex]
		dst := "default"
		if r.Dst != nil {
			dst = r.Dst.String()
		}
		switch {
		case r.Protocol == unix.RTPROT_KERNEL:
			continue
		case r.Type != 0 && r.Type != unix.RTN_UNICAST:
			notes = append(notes, fmt.Sprintf("route %s: type %d is not unicast: not passed on", dst, r.Type))
			continue
		case len(r.MultiPath) > 0:
			notes = append(notes, fmt.Sprintf("route %s: multipath: not passed on", dst))
			continue
		case dev == "":
			notes = append(notes, fmt.Sprintf("route %s: not through a passed-on interface: not passed on", dst))
			continue
		}
		var out1 Route
		out1.Device = dev
		if r.Dst != nil {
			ip, _ := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			out1.Dst = netip.PrefixFrom(ip.Unmap(), ones)
		} else if r.Family == unix.AF_INET6 {
			out1.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		} else {
			out1.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		if r.Gw != nil {
			gw, ok := netip.AddrFromSlice(r.Gw)
			if !ok {
				continue
			}
			out1.Gateway = gw.Unmap()
		}
		switch r.Scope {
		case netlink.SCOPE_LINK:
			out1.Scope = "link"
		case netlink.SCOPE_HOST:
			out1.Scope = "host"
		}
		if !out1.Dst.IsValid() || out1.Dst != out1.Dst.Masked() {
			notes = append(notes, fmt.Sprintf("route %s: malformed destination: not passed on", dst))
			continue
		}
		out = append(out, out1)
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Gateway.IsValid() && out[j].Gateway.IsValid() })
	return out, notes
}

// connect creates ifc's TAP and the two redirects.
func (n *Network) connect(ifc *Interface) error {
	if _, err := n.h.LinkByName(ifc.TAPName); err == nil {
		return fmt.Errorf("%w: %s already has an interface %s", ErrBusy, n.Path, ifc.TAPName)
	}
	if err := n.clearDangling(ifc.Index); err != nil {
		return err
	}
	f, err := createTAP(n.ns, ifc.TAPName)
	if err != nil {
		return err
	}
	ifc.TAP = f
	tap, err := n.h.LinkByName(ifc.TAPName)
	if err != nil {
		return fmt.Errorf("tcnet: the new TAP %s: %w", ifc.TAPName, err)
	}
	ifc.tapIndex = tap.Attrs().Index
	if err := n.h.LinkSetMTU(tap, ifc.MTU); err != nil {
		return fmt.Errorf("tcnet: TAP %s: MTU %d: %w", ifc.TAPName, ifc.MTU, err)
	}
	if err := n.h.LinkSetUp(tap); err != nil {
		return fmt.Errorf("tcnet: TAP %s: up: %w", ifc.TAPName, err)
	}
	had, err := n.hasIngress(ifc.Index)
	if err != nil {
		return err
	}
	ifc.haveQdisc = had
	if !had {
		if err := n.addIngress(ifc.Index, ifc.Name); err != nil {
			return err
		}
	}
	if err := n.redirect(ifc.Index, ifc.tapIndex, ifc.Name, ifc.TAPName); err != nil {
		if !had {
			_ = n.h.QdiscDel(ingress(ifc.Index)) // the redirect's error is the one to report
		}
		return err
	}
	ifc.redirecting = true
	if err := n.addIngress(ifc.tapIndex, ifc.TAPName); err != nil {
		return err
	}
	return n.redirect(ifc.tapIndex, ifc.Index, ifc.TAPName, ifc.Name)
}

func ingress(index int) *netlink.Ingress {
	return &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
}

func (n *Network) hasIngress(index int) (bool, error) {
	qs, err := n.h.QdiscList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}})
	if err != nil {
		return false, fmt.Errorf("tcnet: qdiscs of interface %d: %w", index, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_INGRESS {
			return true, nil
		}
	}
	return false, nil
}

func (n *Network) addIngress(index int, name string) error {
	if err := n.h.QdiscAdd(ingress(index)); err != nil {
		return fmt.Errorf("tcnet: ingress qdisc on %s: %w%s", name, err, moduleHint(err, "sch_ingress"))
	}
	return nil
}

// redirect adds the match-all filter that sends every frame arriving on
// from out of to.
func (n *Network) redirect(from, to int, fromName, toName string) error {
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: from, Parent: netlink.MakeHandle(0xffff, 0),
			Priority: FilterPriority, Protocol: unix.ETH_P_ALL},
		Actions: []netlink.Action{netlink.NewMirredAction(to)},
	}
	if err := n.h.FilterAdd(f); err != nil {
		return fmt.Errorf("tcnet: redirecting %s to %s (tc u32 filter, mirred action): %w%s", fromName, toName, err,
			moduleHint(err, "cls_u32 and act_mirred"))
	}
	return nil
}

func moduleHint(err error, mods string) string {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		return fmt.Sprintf(" (is %s available? modprobe %s)", mods, strings.ReplaceAll(mods, " and ", " "))
	}
	return ""
}

// ourFilters returns the redirect targets of hull's filters on index's
// ingress (0 for a target that no longer exists).
func (n *Network) ourFilters(index int) (targets []int, found bool, err error) {
	fs, err := n.h.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}, netlink.MakeHandle(0xffff, 0))
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil, false, nil // no ingress qdisc
		}
		return nil, false, fmt.Errorf("tcnet: filters of interface %d: %w", index, err)
	}
	for _, f := range fs {
		if f.Attrs().Priority != FilterPriority {
			continue
		}
		found = true
		if u, ok := f.(*netlink.U32); ok {
			for _, a := range u.Actions {
				if m, ok := a.(*netlink.MirredAction); ok {
					targets = append(targets, m.Ifindex)
				}
			}
		}
	}
	return targets, found, nil
}

// clearDangling removes hull's filters from index's ingress when their
// TAP is gone (a VMM killed with SIGKILL), and refuses when it is not.
func (n *Network) clearDangling(index int) error {
	targets, found, err := n.ourFilters(index)
	if err != nil || !found {
		return err
	}
	for _, t := range targets {
		if t == 0 {
			continue
		}
		if l, err := n.h.LinkByIndex(t); err == nil {
			return fmt.Errorf("%w: %s is redirected to %s", ErrBusy, n.Path, l.Attrs().Name)
		}
	}
	return n.unredirect(index, true)
}

// unredirect deletes hull's filters on index's ingress, and the ingress
// qdisc too when dropQdisc, or when no other filter is left in it.
func (n *Network) unredirect(index int, dropQdisc bool) error {
	link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
	err := n.h.FilterDel(&netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: index,
		Parent: netlink.MakeHandle(0xffff, 0), Priority: FilterPriority, Protocol: unix.ETH_P_ALL}})
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("tcnet: removing the redirect on interface %d: %w", index, err)
	}
	if !dropQdisc {
		fs, err := n.h.FilterList(link, netlink.MakeHandle(0xffff, 0))
		if err != nil || len(fs) > 0 {
			return nil // someone else's filters stay, and their qdisc
		}
	}
	if err := n.h.QdiscDel(ingress(index)); err != nil && !errors.Is(err, unix.ENOENT) &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("tcnet: removing the ingress qdisc of interface %d: %w", index, err)
	}
	return nil
}

// Close undoes Setup: the redirects and the ingress qdiscs it added go
// from the namespace's interfaces, and the TAPs are closed (they vanish
// once the VMM has closed its duplicates too). It may be called more
// than once.
func (n *Network) Close() error {
	if n == nil {
		return nil
	}
	var errs []error
	for i := range n.Interfaces {
		ifc := &n.Interfaces[i]
		if ifc.redirecting && n.h != nil {
			if err := n.unredirect(ifc.Index, !ifc.haveQdisc); err != nil {
				errs = append(errs, err)
			}
			ifc.redirecting = false
		}
		if ifc.TAP != nil {
			if err := ifc.TAP.Close(); err != nil {
				errs = append(errs, err)
			}
			ifc.TAP = nil
		}
	}
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
	if n.ns != nil {
		n.ns.Close()
		n.ns = nil
	}
	return errors.Join(errs...)
}

// Cleanup removes what a VM left in the network namespace at path when
// its VMM could not (killed with SIGKILL): hull's redirect filters whose
// TAP is gone, with their ingress qdisc when nothing else is in it. A
// namespace that no longer exists has nothing to clean. A redirect to a
// TAP that still exists is waited for, up to wait: the TAP goes only when
// the last thread of a killed VMM has exited, which can be after its
// main thread is a zombie. One still there then (a live VM's) stays.
func Cleanup(path string, wait time.Duration) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ns, h, err := open(path)
	if err != nil {
		return err
	}
	n := &Network{Path: path, ns: ns, h: h}
	defer n.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("tcnet: listing the interfaces of %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		for {
			targets, found, err := n.ourFilters(a.Index)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if !found {
				break
			}
			live := false
			for _, t := range targets {
				if _, err := h.LinkByIndex(t); t != 0 && err == nil {
					live = true
				}
			}
			if !live {
				if err := n.unredirect(a.Index, false); err != nil {
					errs = append(errs, err)
				}
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}
