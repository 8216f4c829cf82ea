package kvmtests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/internal/testtier"
)

// The vm sandbox's networking (README "Networking", vmsandbox/tcnet): a
// container whose config names a network namespace made with `ip netns
// add` and a veth pair reaches a TCP listener on the host's end through
// the TAP and tc redirects, sees eth0 with the namespace's address, MAC
// and MTU, and nothing of hull's stays in the namespace after delete,
// even when the VMM was killed with SIGKILL.

type vmNetns struct {
	name, path string
	hostAddr   string // the veth's host end
	nsAddr     string // eth0's, in the namespace, with /24
	mac        string // eth0's
}

func runCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newVMNetns makes namespace hullvmnetN: eth0 (MTU 1420) at 10.210.N.2/24
// with a default route via 10.210.N.1, the host end hvn-N at
// 10.210.N.1/24.
func newVMNetns(t *testing.T, n int) *vmNetns {
	t.Helper()
	testtier.RequireRoot(t)
	testtier.RequireTool(t, "ip")
	testtier.RequireTool(t, "tc")
	// The nested runner's kernel cannot load modules by itself (its
	// modprobe is the initramfs's): load what the redirects need.
	for _, m := range []string{"tun", "veth", "sch_ingress", "cls_u32", "act_mirred"} {
		if out, err := exec.Command("modprobe", m).CombinedOutput(); err != nil {
			t.Logf("modprobe %s: %v: %s", m, err, strings.TrimSpace(string(out)))
		}
	}
	ns := &vmNetns{name: fmt.Sprintf("hullvmnet%d-%d", os.Getpid()%10000, n), hostAddr: fmt.Sprintf("10.210.%d.1", n),
		nsAddr: fmt.Sprintf("10.210.%d.2/24", n)}
	ns.path = "/run/netns/" + ns.name
	host, peer := fmt.Sprintf("hvn%d-h", n), fmt.Sprintf("hvn%d-n", n)
	_ = exec.Command("ip", "link", "del", host).Run() // a leftover of an earlier run
	runCmd(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	runCmd(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	runCmd(t, "ip", "link", "set", peer, "netns", ns.name)
	runCmd(t, "ip", "-n", ns.name, "link", "set", peer, "name", "eth0")
	runCmd(t, "ip", "-n", ns.name, "link", "set", "eth0", "mtu", "1420", "up")
	runCmd(t, "ip", "-n", ns.name, "link", "set", "lo", "up")
	runCmd(t, "ip", "-n", ns.name, "addr", "add", ns.nsAddr, "dev", "eth0")
	runCmd(t, "ip", "-n", ns.name, "route", "add", "default", "via", ns.hostAddr)
	runCmd(t, "ip", "addr", "add", ns.hostAddr+"/24", "dev", host)
	runCmd(t, "ip", "link", "set", host, "up")
	f := strings.Fields(runCmd(t, "ip", "-n", ns.name, "-o", "link", "show", "eth0"))
	for i := range f {
		if f[i] == "link/ether" && i+1 < len(f) {
			ns.mac = f[i+1]
		}
	}
	if ns.mac == "" {
		t.Fatalf("no MAC for eth0 in %s", ns.name)
	}
	return ns
}

// leftovers describes hull's TAPs and ingress qdiscs in the namespace.
func (ns *vmNetns) leftovers(t *testing.T) string {
	t.Helper()
	var left []string
	if out := runCmd(t, "ip", "-n", ns.name, "-o", "link", "show"); strings.Contains(out, "_hull") {
		left = append(left, "links: "+out)
	}
	if out := runCmd(t, "tc", "-n", ns.name, "qdisc", "show", "dev", "eth0"); strings.Contains(out, "ingress") {
		left = append(left, "eth0: "+out)
	}
	return strings.Join(left, "; ")
}

// netBundle is a busybox bundle whose config joins ns's namespace by path.
func netBundle(t *testing.T, ns *vmNetns, args ...string) string {
	t.Helper()
	dir := socketDir(t)
	testbundle.Rootfs(t, dir, "sh", "echo", "cat", "sleep", "ip", "wget")
	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Process:  &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Hostname: "vmnet",
		Mounts:   []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.NetworkNamespace, Path: ns.path},
		}},
	}
	testbundle.WriteSpec(t, dir, s)
	return dir
}

func TestVMSandboxNetwork(t *testing.T) {
	e := newVMEnv(t)
	ns := newVMNetns(t, 1)
	const payload = "hello through the TAP and tc"
	ln, err := net.Listen("tcp4", ns.hostAddr+":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload+" from "+r.RemoteAddr+"\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	b := netBundle(t, ns, "sh", "-c",
		"ip link show eth0; ip addr show dev eth0; ip route; wget -q -O - http://"+ns.hostAddr+":8080/")
	start := time.Now()
	r := e.hull("run", "--bundle", b, "vmnet1")
	t.Logf("hull run with a network namespace: %v\n%s", time.Since(start).Round(time.Millisecond), r.stdout)
	if r.status != 0 {
		t.Fatalf("run: exit %d, stdout %q, stderr %q%s", r.status, r.stdout, r.stderr, e.logs())
	}
	nsIP := strings.TrimSuffix(ns.nsAddr, "/24")
	for _, want := range []string{
		"link/ether " + ns.mac, "mtu 1420", "inet " + ns.nsAddr, "default via " + ns.hostAddr,
		payload + " from " + nsIP + ":",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the container's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if left := ns.leftovers(t); left != "" {
		t.Errorf("after hull run: %s", left)
	}
}

// A VMM killed with SIGKILL cannot remove its redirect from eth0; hull
// delete does.
func TestVMSandboxNetworkKilled(t *testing.T) {
	e := newVMEnv(t)
	ns := newVMNetns(t, 2)
	b := netBundle(t, ns, "sleep", "1000")
	e.ok("create", "--bundle", b, "vmnet2")
	defer e.hull("delete", "--force", "vmnet2")
	if out := runCmd(t, "tc", "-n", ns.name, "filter", "show", "dev", "eth0", "ingress"); !strings.Contains(out, "tap0_hull") {
		t.Fatalf("no redirect to the TAP while the VM runs: %s%s", out, e.logs())
	}
	var st specs.State
	if err := json.Unmarshal([]byte(e.ok("state", "vmnet2").stdout), &st); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; running(st.Pid); i++ {
		if i > 500 {
			t.Fatalf("VMM %d still there 5 s after SIGKILL", st.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The TAP goes with the VMM's last thread, which may be after its
	// main thread is a zombie.
	left := ns.leftovers(t)
	for i := 0; strings.Contains(left, "links:") && i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
		left = ns.leftovers(t)
	}
	if !strings.Contains(left, "ingress") || strings.Contains(left, "links:") {
		t.Fatalf("after SIGKILL, want the ingress qdisc left and the TAP gone: %q", left)
	}
	e.ok("delete", "--force", "vmnet2")
	if left := ns.leftovers(t); left != "" {
		t.Errorf("after hull delete: %s", left)
	}
}

// running reports whether pid exists and is not a zombie (the nested
// runner's init may be slow to reap the orphaned VMM).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
