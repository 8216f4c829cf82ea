package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// fakeNet records configureNetwork's calls as text; fail makes the call
// whose text starts with a key fail with that error.
type fakeNet struct {
	links []guestLink
	calls []string
	fail  map[string]error
}

func (f *fakeNet) do(call string) error {
	f.calls = append(f.calls, call)
	for k, err := range f.fail {
		if strings.HasPrefix(call, k) {
			return err
		}
	}
	return nil
}

func (f *fakeNet) Links() ([]guestLink, error) { return append([]guestLink(nil), f.links...), nil }
func (f *fakeNet) SetName(i int, name string) error {
	return f.do(fmt.Sprintf("name %d %s", i, name))
}
func (f *fakeNet) SetMTU(i, mtu int) error { return f.do(fmt.Sprintf("mtu %d %d", i, mtu)) }
func (f *fakeNet) SetUp(i int) error       { return f.do(fmt.Sprintf("up %d", i)) }
func (f *fakeNet) AddAddr(i int, p netip.Prefix) error {
	return f.do(fmt.Sprintf("addr %d %s", i, p))
}
func (f *fakeNet) AddRoute(r guestRoute) error {
	s := "route " + r.Dst.String()
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	if r.Index != 0 {
		s += fmt.Sprintf(" dev %d", r.Index)
	}
	if r.Scope != "" {
		s += " scope " + r.Scope
	}
	return f.do(s)
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func guestLinks() []guestLink {
	return []guestLink{
		{Index: 1, Name: "lo"},
		{Index: 2, Name: "eth0", MAC: mac("02:00:00:00:00:aa")},
		{Index: 3, Name: "eth1", MAC: mac("02:00:00:00:00:bb")},
	}
}

func TestConfigureNetwork(t *testing.T) {
	f := &fakeNet{links: guestLinks()}
	var logged []string
	logf := func(format string, a ...any) { logged = append(logged, fmt.Sprintf(format, a...)) }
	n := &proto.Network{
		Interfaces: []proto.Interface{
			{Name: "eth0", MAC: "02:00:00:00:00:BB", MTU: 1400, Addresses: []string{"10.200.1.2/24", "fd00::2/64"}},
			{Name: "net1", MAC: "02:00:00:00:00:aa", Addresses: []string{"192.168.5.5/16"}},
		},
		Routes: []proto.Route{
			{Dst: "169.254.1.1/32", Device: "eth0", Scope: proto.ScopeLink},
			{Dst: "0.0.0.0/0", Gateway: "10.200.1.1", Device: "eth0"},
			{Dst: "::/0", Gateway: "fd00::1", Device: "eth0"},
			{Dst: "10.9.0.0/16", Gateway: "192.168.0.1"},
		},
	}
	f.fail = map[string]error{"addr 3 fd00::2/64": unix.EAFNOSUPPORT, "route ::/0": unix.EAFNOSUPPORT}
	if err := configureNetwork(f, n, logf); err != nil {
		t.Fatal(err)
	}
	// The NIC with eth0's MAC is the kernel's eth1: the kernel's eth0
	// moves aside first, then becomes net1.
	want := []string{
		"name 2 hull2", "name 3 eth0", "mtu 3 1400", "addr 3 10.200.1.2/24", "addr 3 fd00::2/64", "up 3",
		"name 2 net1", "addr 2 192.168.5.5/16", "up 2",
		"route 169.254.1.1/32 dev 3 scope link", "route 0.0.0.0/0 via 10.200.1.1 dev 3",
		"route ::/0 via fd00::1 dev 3", "route 10.9.0.0/16 via 192.168.0.1",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if len(logged) != 2 || !strings.Contains(logged[0], "fd00::2/64 skipped") || !strings.Contains(logged[1], "::/0 skipped") {
		t.Errorf("log %q", logged)
	}
}

func TestConfigureNetworkErrors(t *testing.T) {
	logf := func(string, ...any) {}
	base := func() *proto.Network {
		return &proto.Network{Interfaces: []proto.Interface{{Name: "eth0", MAC: "02:00:00:00:00:aa",
			Addresses: []string{"10.0.0.2/24"}}},
			Routes: []proto.Route{{Dst: "0.0.0.0/0", Gateway: "10.0.0.1", Device: "eth0"}}}
	}
	for _, c := range []struct {
		name string
		edit func(n *proto.Network)
		fail map[string]error
		want string
	}{
		{"no such MAC", func(n *proto.Network) { n.Interfaces[0].MAC = "02:00:00:00:00:cc" }, nil,
			"no guest NIC has eth0's MAC 02:00:00:00:00:cc (the guest has: eth0 02:00:00:00:00:aa, eth1 02:00:00:00:00:bb)"},
		{"IPv4 address refused", nil, map[string]error{"addr 2 10.0.0.2/24": unix.EAFNOSUPPORT}, "address 10.0.0.2/24"},
		{"route refused", nil, map[string]error{"route 0.0.0.0/0": unix.ENETUNREACH}, "route 0.0.0.0/0 via 10.0.0.1 dev eth0"},
		{"up refused", nil, map[string]error{"up 2": unix.EPERM}, "eth0: up"},
		{"route to an unknown device", func(n *proto.Network) { n.Routes[0].Device = "eth9" }, nil, "no interface eth9"},
	} {
		n := base()
		if c.edit != nil {
			c.edit(n)
		}
		f := &fakeNet{links: guestLinks(), fail: c.fail}
		err := configureNetwork(f, n, logf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestShareGuestNetns(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/var/run/netns/cni-1234"},
		{Type: specs.MountNamespace}, {Type: specs.UTSNamespace, Path: "/proc/1/ns/uts"},
	}}}
	orig := spec.Linux.Namespaces
	shareGuestNetns(spec)
	if got := fmt.Sprint(spec.Linux.Namespaces); got != fmt.Sprint([]specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace, Path: "/proc/1/ns/uts"}}) {
		t.Errorf("namespaces %s", got)
	}
	if orig[1].Path == "" {
		t.Error("the caller's slice was changed")
	}
	// Without a path: a new, empty network namespace, kept.
	spec = &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}}}
	shareGuestNetns(spec)
	if len(spec.Linux.Namespaces) != 1 {
		t.Errorf("a new network namespace was dropped: %v", spec.Linux.Namespaces)
	}
	shareGuestNetns(&specs.Spec{}) // no linux section: nothing to do, no panic
}

// The Server applies a create's network once, before the container is
// made; the same network again is fine, another one is refused, and an
// agent without ConfigureNetwork answers unsupported. With HostNetns the
// container's config no longer names the host's namespace path.
func TestServerCreateNetwork(t *testing.T) {
	var mu sync.Mutex
	var applied []*proto.Network
	rt := &fakeRuntime{}
	_, path := testServer(t, &Server{rt: rt, HostNetns: true, ConfigureNetwork: func(n *proto.Network) error {
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, n)
		return nil
	}})
	cl := dialClient(t, path)
	spec := &specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"true"}, Cwd: "/"},
		Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/run/netns/x"}}}}
	raw, _ := json.Marshal(spec)
	netw := &proto.Network{Interfaces: []proto.Interface{{Name: "eth0", MAC: "02:00:00:00:00:01", Addresses: []string{"10.0.0.2/24"}}}}
	var res proto.CreateResult
	call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: "a", Bundle: "/b", Spec: raw, Stdio: proto.StdioNull, Network: netw}, &res)
	call(t, cl, proto.OpCreate, &proto.CreateArgs{ID: "b", Bundle: "/b", Spec: raw, Stdio: proto.StdioNull, Network: netw}, &res)
	other := &proto.Network{Interfaces: []proto.Interface{{Name: "eth0", MAC: "02:00:00:00:00:01", Addresses: []string{"10.0.0.3/24"}}}}
	_, err := cl.Call(proto.OpCreate, &proto.CreateArgs{ID: "c", Bundle: "/b", Spec: raw, Stdio: proto.StdioNull, Network: other}, &res)
	wantCode(t, "a different network", err, proto.CodeState)
	mu.Lock()
	if len(applied) != 1 || applied[0].Interfaces[0].Addresses[0] != "10.0.0.2/24" {
		t.Errorf("applied %+v, want the first network once", applied)
	}
	mu.Unlock()
	opts := rt.options()
	if len(opts) != 2 {
		t.Fatalf("%d containers created, want 2 (not the refused one)", len(opts))
	}
	for _, ns := range opts[0].Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Errorf("the container still joins %q", ns.Path)
		}
	}

	_, path = testServer(t, &Server{})
	_, err = dialClient(t, path).Call(proto.OpCreate, &proto.CreateArgs{ID: "d", Bundle: "/b", Spec: raw,
		Stdio: proto.StdioNull, Network: netw}, &res)
	wantCode(t, "an agent without networking", err, proto.CodeUnsupported)
}
