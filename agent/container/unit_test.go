package container

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  []string
		flags uintptr
		prop  []uintptr
		set   uint64
		clr   uint64
		data  string
	}{
		{opts: nil},
		{opts: []string{"ro", "nosuid", "nodev", "noexec", "relatime"},
			flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME},
		{opts: []string{"ro", "rw"}, flags: 0},               // later wins
		{opts: []string{"nosuid", "suid", "exec"}, flags: 0}, // clearing options
		{opts: []string{"rbind", "ro"}, flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY},
		{opts: []string{"bind", "rprivate", "slave"}, flags: unix.MS_BIND,
			prop: []uintptr{unix.MS_PRIVATE | unix.MS_REC, unix.MS_SLAVE}},
		{opts: []string{"nosuid", "mode=755", "size=65536k", "newinstance"},
			flags: unix.MS_NOSUID, data: "mode=755,size=65536k,newinstance"},
		{opts: []string{"rro", "rnosuid"}, set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID},
		{opts: []string{"rro", "rrw"}, clr: unix.MOUNT_ATTR_RDONLY},
		{opts: []string{"rnoatime"}, set: unix.MOUNT_ATTR_NOATIME, clr: unix.MOUNT_ATTR__ATIME},
		{opts: []string{"defaults"}},
		{opts: []string{"nosymfollow"}, flags: unix.MS_NOSYMFOLLOW},
	} {
		o, err := parseMountOptions(tc.opts)
		if err != nil {
			t.Errorf("%v: %v", tc.opts, err)
			continue
		}
		if o.flags != tc.flags || !reflect.DeepEqual(o.propagation, tc.prop) || o.attrSet != tc.set ||
			o.attrClr != tc.clr || o.dataString() != tc.data {
			t.Errorf("%v: got flags %#x prop %v set %#x clr %#x data %q; want %#x %v %#x %#x %q", tc.opts,
				o.flags, o.propagation, o.attrSet, o.attrClr, o.dataString(), tc.flags, tc.prop, tc.set, tc.clr, tc.data)
		}
	}
	o, _ := parseMountOptions([]string{"rbind", "ro", "nosuid"})
	if got := o.flagsAfterBind(); got != unix.MS_RDONLY|unix.MS_NOSUID {
		t.Errorf("flagsAfterBind = %#x", got)
	}
	for _, bad := range []string{"idmap", "ridmap", "tmpcopyup"} {
		if _, err := parseMountOptions([]string{bad}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: got %v, want an ErrUnsupported naming it", bad, err)
		}
	}
}

func TestLockedFlags(t *testing.T) {
	got := lockedFlags(unix.ST_NOSUID | unix.ST_NODEV | unix.ST_RELATIME)
	if want := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RELATIME); got != want {
		t.Errorf("lockedFlags = %#x, want %#x", got, want)
	}
}

func TestPlanNamespaces(t *testing.T) {
	p, err := planNamespaces([]specs.LinuxNamespace{
		{Type: "pid"}, {Type: "mount"}, {Type: "uts"}, {Type: "ipc"}, {Type: "network", Path: "/run/netns/x"},
		{Type: "cgroup"}, {Type: "user"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUSER)
	if p.cloneFlags != want {
		t.Errorf("cloneFlags = %#x, want %#x", p.cloneFlags, want)
	}
	if len(p.join) != 1 || p.join[0].kind.proc != "net" || p.join[0].path != "/run/netns/x" {
		t.Errorf("join = %+v", p.join)
	}
	if !p.has[specs.NetworkNamespace] || p.created[specs.NetworkNamespace] || !p.created[specs.PIDNamespace] {
		t.Errorf("has/created wrong: %v %v", p.has, p.created)
	}
	p, err = planNamespaces([]specs.LinuxNamespace{{Type: "mount", Path: "/proc/1/ns/mnt"}, {Type: "pid", Path: "/proc/1/ns/pid"}})
	if err != nil || p.mountPath != "/proc/1/ns/mnt" || p.cloneFlags != 0 || len(p.join) != 1 {
		t.Errorf("mount by path: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		ns          []specs.LinuxNamespace
		want        string
		unsupported bool
	}{
		{[]specs.LinuxNamespace{{Type: "bogus"}}, `unknown namespace type "bogus"`, false},
		{[]specs.LinuxNamespace{{Type: "pid"}, {Type: "pid"}}, "given twice", false},
		{[]specs.LinuxNamespace{{Type: "net", Path: "x"}}, "unknown namespace type", false},
		{[]specs.LinuxNamespace{{Type: "network", Path: "rel/path"}}, "not absolute", false},
		{[]specs.LinuxNamespace{{Type: "user", Path: "/proc/1/ns/user"}}, "joining a user namespace by path", true},
		{[]specs.LinuxNamespace{{Type: "time", Path: "/proc/1/ns/time"}}, "joining a time namespace by path", true},
	} {
		_, err := planNamespaces(tc.ns)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrUnsupported) != tc.unsupported {
			t.Errorf("%v: got %v, want %q (unsupported %v)", tc.ns, err, tc.want, tc.unsupported)
		}
	}
}

func TestCheckSpec(t *testing.T) {
	base := func() (*specs.Spec, *specs.Linux) {
		lx := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "mount"}, {Type: "uts"}}}
		return &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}, Linux: lx}, lx
	}
	check := func(s *specs.Spec, lx *specs.Linux) error {
		p, err := planNamespaces(lx.Namespaces)
		if err != nil {
			return err
		}
		return checkSpec(s, lx, p)
	}
	s, lx := base()
	s.Hostname = "h"
	if err := check(s, lx); err != nil {
		t.Errorf("valid spec: %v", err)
	}
	for _, tc := range []struct {
		name        string
		mod         func(*specs.Spec, *specs.Linux)
		want        string
		unsupported bool
	}{
		{"no mount ns", func(s *specs.Spec, lx *specs.Linux) { lx.Namespaces = lx.Namespaces[1:] }, "no mount namespace", false},
		{"hostname without uts", func(s *specs.Spec, lx *specs.Linux) {
			lx.Namespaces = lx.Namespaces[:1]
			s.Hostname = "h"
		}, "unable to set hostname without a private UTS namespace", false},
		{"domainname without uts", func(s *specs.Spec, lx *specs.Linux) {
			lx.Namespaces = lx.Namespaces[:1]
			s.Domainname = "d"
		}, "domainname", false},
		{"maps without userns", func(s *specs.Spec, lx *specs.Linux) {
			lx.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "without a new user namespace", false},
		{"userns without maps", func(s *specs.Spec, lx *specs.Linux) {
			lx.Namespaces = append(lx.Namespaces, specs.LinuxNamespace{Type: "user"})
		}, "needs linux.uidMappings", false},
		{"bad propagation", func(s *specs.Spec, lx *specs.Linux) { lx.RootfsPropagation = "sideways" }, "rootfsPropagation", false},
		{"time offsets", func(s *specs.Spec, lx *specs.Linux) {
			lx.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets", true},
		{"idmapped mount", func(s *specs.Spec, lx *specs.Linux) {
			s.Mounts = []specs.Mount{{Destination: "/m", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}}
		}, "idmapped", true},
		{"scheduler", func(s *specs.Spec, lx *specs.Linux) { s.Process.Scheduler = &specs.Scheduler{} }, "process.scheduler", true},
		{"personality flags", func(s *specs.Spec, lx *specs.Linux) {
			lx.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"x"}}
		}, "personality.flags", true},
		{"bad ioprio", func(s *specs.Spec, lx *specs.Linux) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_BE", Priority: 9}
		}, "outside 0..7", false},
	} {
		s, lx := base()
		tc.mod(s, lx)
		err := check(s, lx)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrUnsupported) != tc.unsupported {
			t.Errorf("%s: got %v, want %q (unsupported %v)", tc.name, err, tc.want, tc.unsupported)
		}
	}
}

func TestResolveCaps(t *testing.T) {
	c := &specs.LinuxCapabilities{
		Bounding:  []string{"CAP_CHOWN", "CAP_KILL", "CAP_NOPE", "CAP_CHECKPOINT_RESTORE"},
		Effective: []string{"CAP_KILL"},
		Permitted: []string{"cap_kill"}, // case-insensitive, like runc
		Ambient:   []string{"CAP_NET_BIND_SERVICE"},
	}
	s, skipped := resolveCaps(c, 39) // a kernel whose last capability is CAP_BPF
	if want := uint64(1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL); s.bounding != want {
		t.Errorf("bounding = %#x, want %#x", s.bounding, want)
	}
	if s.effective != 1<<unix.CAP_KILL || s.permitted != 1<<unix.CAP_KILL || s.inheritable != 0 {
		t.Errorf("sets = %+v", s)
	}
	if s.ambient != 1<<unix.CAP_NET_BIND_SERVICE {
		t.Errorf("ambient = %#x", s.ambient)
	}
	if !reflect.DeepEqual(skipped, []string{"CAP_NOPE", "CAP_CHECKPOINT_RESTORE"}) {
		t.Errorf("skipped = %v", skipped)
	}
	if s, skipped := resolveCaps(nil, 40); s != (capSets{}) || skipped != nil {
		t.Errorf("nil capabilities: %+v %v, want none", s, skipped)
	}
	// Every name maps to a distinct number, 0..CAP_LAST_CAP.
	seen := map[int]string{}
	for n, v := range capNames {
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s both map to %d", n, other, v)
		}
		seen[v] = n
		if capName(v) != n {
			t.Errorf("capName(%d) = %s, want %s", v, capName(v), n)
		}
	}
	if len(seen) != unix.CAP_LAST_CAP+1 {
		t.Errorf("%d capability names, want %d", len(seen), unix.CAP_LAST_CAP+1)
	}
}

func TestParseRlimits(t *testing.T) {
	ls, err := parseRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}, {Type: "RLIMIT_CORE"}})
	if err != nil {
		t.Fatal(err)
	}
	if ls[0].resource != unix.RLIMIT_NOFILE || ls[0].soft != 10 || ls[0].hard != 20 || ls[1].resource != unix.RLIMIT_CORE {
		t.Errorf("got %+v", ls)
	}
	if len(rlimitNames) != 16 {
		t.Errorf("%d rlimit names, want the 16 of getrlimit(2)", len(rlimitNames))
	}
	for _, tc := range []struct {
		l    []specs.POSIXRlimit
		want string
	}{
		{[]specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}}, `unknown rlimit type "RLIMIT_BOGUS"`},
		{[]specs.POSIXRlimit{{Type: "RLIMIT_AS"}, {Type: "RLIMIT_AS"}}, "given twice"},
		{[]specs.POSIXRlimit{{Type: "RLIMIT_AS", Soft: 2, Hard: 1}}, "above the hard limit"},
	} {
		if _, err := parseRlimits(tc.l); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.l, err, tc.want)
		}
	}
}

func TestIOPriorityAndPersonality(t *testing.T) {
	v, err := ioPriorityValue(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE, Priority: 4})
	if err != nil || v != 3<<13|4 {
		t.Errorf("ioPriorityValue = %#x, %v", v, err)
	}
	if _, err := ioPriorityValue(&specs.LinuxIOPriority{Class: "IOPRIO_CLASS_X"}); err == nil {
		t.Error("unknown class accepted")
	}
	if v, err := personalityValue(&specs.LinuxPersonality{Domain: specs.PerLinux32}); err != nil || v != 8 {
		t.Errorf("personalityValue(LINUX32) = %#x, %v", v, err)
	}
}

// mkfs builds a small tree: names ending in "/" are directories, "a -> b"
// is a symlink, the rest empty files.
func mkfs(t *testing.T, entries ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range entries {
		if name, target, ok := strings.Cut(e, " -> "); ok {
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		p := filepath.Join(root, e)
		if strings.HasSuffix(e, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolveInRoot(t *testing.T) {
	root := mkfs(t, "etc/", "usr/lib/", "lib -> usr/lib", "abs -> /etc", "escape -> ../../../../etc",
		"dotdot -> ..", "loop1 -> loop2", "loop2 -> loop1", "dangling -> /nowhere/x", "etc/file")
	for _, tc := range []struct{ in, want string }{
		{"/", ""},
		{"/etc", "etc"},
		{"etc/", "etc"},
		{"/lib/x", "usr/lib/x"},
		{"/abs/passwd", "etc/passwd"},    // absolute symlink: relative to the root
		{"/escape/passwd", "etc/passwd"}, // ".." clamps at the root
		{"/../../etc", "etc"},
		{"/dotdot/dotdot/etc", "etc"},
		{"/dangling", "nowhere/x"}, // created inside the root, never outside
		{"/missing/a/../b", "missing/b"},
	} {
		got, err := resolveInRoot(root, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("resolveInRoot(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := resolveInRoot(root, "/loop1"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("symlink loop: got %v, want ELOOP", err)
	}
	if _, err := resolveInRoot(root, "/etc/file/x"); err == nil {
		t.Error("a path through a file resolved")
	}
}

func TestRootDirCreate(t *testing.T) {
	root := mkfs(t, "etc/", "abs -> /etc", "escape -> ../../../../../tmp/hull-escape-test")
	r, err := openRootDir(root)
	if err != nil {
		t.Skipf("openat2: %v", err) // a kernel before 5.6
	}
	defer r.close()
	rel, err := r.create("/abs/sub/dir", false)
	if err != nil || rel != "etc/sub/dir" {
		t.Fatalf("create = %q, %v", rel, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/sub/dir")); err != nil || !fi.IsDir() {
		t.Errorf("directory not made inside the root: %v", err)
	}
	if _, err := r.create("/escape/file", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/hull-escape-test/file")); err != nil {
		t.Errorf("file not made inside the root: %v", err)
	}
	if _, err := os.Stat("/tmp/hull-escape-test"); err == nil {
		t.Error("create escaped the root")
	}
	parent, name, err := r.parentAndName("/abs") // the last component is not followed
	if err != nil {
		t.Fatal(err)
	}
	parent.Close()
	if name != "abs" {
		t.Errorf("parentAndName name = %q", name)
	}
	f, err := r.open("/abs/../../../etc", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if same, err := sameFile(f, filepath.Join(root, "etc")); err != nil || !same {
		t.Errorf("openat2 RESOLVE_IN_ROOT left the root (%v)", err)
	}
}

func TestParseMountinfo(t *testing.T) {
	const text = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 26 0:30 / /with\040space rw shared:5 master:2 - tmpfs tmp\134fs rw
41 26 0:31 / /mnt rw - tmpfs tmpfs rw
42 41 0:32 /sub /mnt/a rw - tmpfs tmpfs rw
`
	ms, err := parseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("%d entries", len(ms))
	}
	m := ms[2]
	if m.id != 40 || m.parent != 26 || m.mountpoint != "/with space" || m.source != `tmp\fs` || m.fstype != "tmpfs" ||
		!m.shared() || len(m.optional) != 2 {
		t.Errorf("entry 2 = %+v", m)
	}
	if ms[0].shared() {
		t.Error("proc entry shared")
	}
	for _, tc := range []struct{ path, want string }{
		{"/", "/"}, {"/usr/bin", "/"}, {"/mnt", "/mnt"}, {"/mnt/a/b", "/mnt/a"}, {"/mntx", "/"}, {"/proc/1", "/proc"},
	} {
		got, ok := mountOf(ms, tc.path)
		if !ok || got.mountpoint != tc.want {
			t.Errorf("mountOf(%s) = %q, want %q", tc.path, got.mountpoint, tc.want)
		}
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestWithDefaultMounts(t *testing.T) {
	dests := func(ms []specs.Mount) string {
		var d []string
		for _, m := range ms {
			d = append(d, m.Destination)
		}
		return strings.Join(d, " ")
	}
	for _, tc := range []struct{ in, want string }{
		{"/proc", "/dev /dev/pts /dev/shm /proc"},
		{"/proc /dev /sys", "/proc /dev /dev/pts /dev/shm /sys"},
		{"/dev /dev/pts /dev/shm /dev/mqueue", "/dev /dev/pts /dev/shm /dev/mqueue"},
		{"/dev/shm/ /dev//", "/dev/shm/ /dev// /dev/pts"},
	} {
		var ms []specs.Mount
		for _, d := range strings.Fields(tc.in) {
			ms = append(ms, specs.Mount{Destination: d})
		}
		if got := dests(withDefaultMounts(ms)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDevices(t *testing.T) {
	mode := os.FileMode(0o600)
	devs := devicesFor([]specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: &mode},
		{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0}})
	if len(devs) != len(defaultDevices)+1 {
		t.Fatalf("%d devices", len(devs))
	}
	m, dev, err := deviceMode(devs[len(devs)-2])
	if err != nil || m != unix.S_IFCHR|0o600 || dev != int(unix.Mkdev(1, 3)) {
		t.Errorf("/dev/null: mode %#o dev %#x %v", m, dev, err)
	}
	m, _, err = deviceMode(devs[len(devs)-1])
	if err != nil || m != unix.S_IFBLK|0o666 {
		t.Errorf("/dev/sda: mode %#o %v", m, err)
	}
	if _, _, err := deviceMode(specs.LinuxDevice{Path: "/dev/x", Type: "q"}); err == nil {
		t.Error("unknown device type accepted")
	}
}

func TestSysctlPath(t *testing.T) {
	if p, err := sysctlPath("net.ipv4.ip_forward"); err != nil || p != "/proc/sys/net/ipv4/ip_forward" {
		t.Errorf("got %q, %v", p, err)
	}
	for _, bad := range []string{"", "/etc/passwd", "a..b"} {
		if _, err := sysctlPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLookPathAndEnv(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "noexec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/nonexistent:" + dir}
	if p, err := lookPath("tool", env); err != nil || p != bin {
		t.Errorf("lookPath(tool) = %q, %v", p, err)
	}
	_, err := lookPath("noexec", env)
	var xe *exec.Error
	if !errors.As(err, &xe) || err.Error() != `exec: "noexec": executable file not found in $PATH` {
		t.Errorf("lookPath(noexec) error = %v", err)
	}
	if p, err := lookPath("/any/path", nil); err != nil || p != "/any/path" {
		t.Errorf("a path with a slash: %q, %v", p, err)
	}
	if v, ok := getenv([]string{"A=1", "B=2", "A=3"}, "A"); !ok || v != "3" {
		t.Errorf("getenv = %q %v", v, ok)
	}
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h := homeOf(1000, passwd); h != "/home/u" {
		t.Errorf("homeOf(1000) = %q", h)
	}
	if h := homeOf(5, passwd); h != "/" {
		t.Errorf("homeOf(5) = %q", h)
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{errors.New("mount failed"), 1},
		{&execError{&exec.Error{Name: "x", Err: exec.ErrNotFound}}, 127},
		{&execError{&os.PathError{Op: "exec", Path: "/x", Err: unix.ENOENT}}, 127},
		{&execError{&os.PathError{Op: "exec", Path: "/x", Err: unix.EACCES}}, 126},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	// Errno survives the trip to the parent.
	m := errorMessage(&execError{&os.PathError{Op: "exec", Path: "/x", Err: unix.EACCES}})
	if err := initError(m); !errors.Is(err, unix.EACCES) || err.Error() != "exec /x: permission denied" {
		t.Errorf("initError = %v", err)
	}
}
