package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunOutputAndExitStatus(t *testing.T) {
	bundle := busyboxBundle(t)
	out, ws := runContainer(t, bundle, testSpec("sh", "-c", "echo hi; echo oops >&2; exit 3"))
	if out != "hi\noops\n" {
		t.Errorf("output %q, want %q", out, "hi\noops\n")
	}
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("wait status %s, want exit status 3", describeStatus(ws))
	}
}

func TestHostnameAndPid1(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "hostname; echo $$; cat /proc/sys/kernel/domainname")
	s.Domainname = "example.org"
	out, _ := runContainer(t, bundle, s)
	if out != "hulltest\n1\nexample.org\n" {
		t.Errorf("output %q, want hostname, pid 1 and the domain name", out)
	}
}

func TestWritesReachTheBundle(t *testing.T) {
	bundle := busyboxBundle(t)
	out, ws := runContainer(t, bundle, testSpec("sh", "-c", "echo data > /written; mkdir -p /tmp/d; echo more > /tmp/d/f"))
	if ws.ExitStatus() != 0 {
		t.Fatalf("%s: %s", describeStatus(ws), out)
	}
	for p, want := range map[string]string{"rootfs/written": "data\n", "rootfs/tmp/d/f": "more\n"} {
		if b, err := os.ReadFile(filepath.Join(bundle, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", p, b, err, want)
		}
	}
}

func TestReadonlyRoot(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "touch /x && echo wrote; echo tmpfs > /dev/shm/ok && cat /dev/shm/ok")
	s.Root.Readonly = true
	out, _ := runContainer(t, bundle, s)
	if !strings.Contains(out, "Read-only file system") || strings.Contains(out, "wrote") || !strings.Contains(out, "tmpfs\n") {
		t.Errorf("output %q: want the write to / refused and /dev/shm writable", out)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/x")); err == nil {
		t.Error("/x was written despite root.readonly")
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	bundle := busyboxBundle(t)
	write(t, filepath.Join(bundle, "rootfs/etc/secret"), "s3cret\n")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs/secretdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(bundle, "rootfs/secretdir/file"), "x")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs/ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := testSpec("sh", "-c", "echo [$(cat /etc/secret)]; echo [$(ls /secretdir)]; touch /ro/f || echo ro-refused; touch /rw-ok && echo rw-ok")
	s.Linux.MaskedPaths = []string{"/etc/secret", "/secretdir", "/does/not/exist"}
	s.Linux.ReadonlyPaths = []string{"/ro", "/missing"}
	out, _ := runContainer(t, bundle, s)
	for _, want := range []string{"[]\n[]\n", "ro-refused", "rw-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

func TestMounts(t *testing.T) {
	bundle := busyboxBundle(t)
	host := t.TempDir()
	write(t, filepath.Join(host, "hostfile"), "from host\n")
	write(t, filepath.Join(bundle, "single"), "single file\n")
	// A symlink in the root pointing outside it: the mount must land inside.
	if err := os.Symlink("/tmp/../../../outside", filepath.Join(bundle, "rootfs/link")); err != nil {
		t.Fatal(err)
	}
	s := testSpec("sh", "-c", "grep -E ' /(mnt/tmp|data|outside/m|dev/pts|dev/shm) ' /proc/mounts | cut -d' ' -f2-4; "+
		"cat /data/hostfile /single; touch /data/x || echo bind-ro; ls -l /dev/ptmx /dev/fd | cut -c1")
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/mnt/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m", "mode=700"}},
		specs.Mount{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/single", Source: "single", Options: []string{"bind"}}, // relative to the bundle
		specs.Mount{Destination: "/link/m", Type: "tmpfs", Source: "tmpfs"},
	)
	linkApplet(t, bundle, "cut")
	out, ws := runContainer(t, bundle, s)
	mounts := map[string]string{} // mount point -> "type options"
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && strings.HasPrefix(f[0], "/") {
			mounts[f[0]] = f[1] + " " + f[2]
		}
	}
	for mp, want := range map[string]string{
		"/mnt/tmp": "tmpfs rw,nosuid", "/data": " ro,", "/outside/m": "tmpfs rw", "/dev/pts": "devpts rw,nosuid,noexec",
		"/dev/shm": "tmpfs rw,nosuid,nodev,noexec",
	} {
		if !strings.Contains(mounts[mp]+",", want) {
			t.Errorf("%s: %q, want %q (%s)\n%s", mp, mounts[mp], want, describeStatus(ws), out)
		}
	}
	for _, want := range []string{"from host\nsingle file\n", "bind-ro", "l\nl\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/outside/m")); err != nil {
		t.Errorf("the mount through the symlink is not inside the root: %v", err)
	}
	if _, err := os.Stat("/outside"); err == nil {
		t.Error("a mount escaped the root to /outside")
	}
}

func TestDefaultDevices(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; "+
		"echo x > /dev/null && head -c 3 /dev/zero | wc -c")
	out, _ := runContainer(t, bundle, s)
	for _, want := range []string{"/dev/null character special file 1:3 666", "/dev/tty character special file 5:0 666",
		"/dev/urandom character special file 1:9 666", "\n3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUserNamespace(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "id -u; cat /proc/self/uid_map; hostname; echo > /dev/null && echo devnull-ok")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	// The init runs as host uid 100000 and must reach its program and
	// the bundle.
	for d := bundle; d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(d) == os.TempDir() {
			break
		}
	}
	// The root file system belongs to the namespace's root, as with runc.
	err := filepath.Walk(filepath.Join(bundle, "rootfs"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 100000, 100000)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := newCapture(t)
	o := options(t, bundle, s, out)
	o.InitCommand = []string{"/proc/self/exe"}
	c := create(t, o)
	out.closeWriter()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ws, _ := c.Wait()
	fields := strings.Fields(out.wait(t))
	if len(fields) != 6 || fields[0] != "0" || fields[1] != "0" || fields[2] != "100000" || fields[3] != "65536" ||
		fields[4] != "hulltest" || fields[5] != "devnull-ok" {
		t.Errorf("output %q (%s): want uid 0 mapped from 100000", fields, describeStatus(ws))
	}
}

func TestCgroupNamespaceMount(t *testing.T) {
	bundle := busyboxBundle(t)
	if _, err := cgroup2Mount(); err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
	s := testSpec("sh", "-c", "grep ' /sys/fs/cgroup ' /proc/mounts | cut -d' ' -f3; grep ^0:: /proc/self/cgroup; echo ready; exec sleep 1000")
	linkApplet(t, bundle, "cut")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "cgroup"})
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
	out := newCapture(t)
	c := create(t, options(t, bundle, s, out))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "ready")
	if got := out.text(); got != "cgroup2\n0::/\nready\n" {
		t.Errorf("output %q: want a cgroup2 mount and the namespace's root as the cgroup", got)
	}
	// Exec joins the cgroup namespace too.
	eout := newCapture(t)
	p, err := c.Exec(&specs.Process{Args: []string{"grep", "^0::", "/proc/self/cgroup"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
		nil, eout.w, eout.w, false)
	if err != nil {
		t.Fatal(err)
	}
	eout.closeWriter()
	p.Wait()
	if got := eout.wait(t); got != "0::/\n" {
		t.Errorf("exec'd process sees cgroup %q", got)
	}
}

func TestProcessAttributes(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "stat -c '%n %t:%T %a %u' /dev/mynull; cat /proc/sys/kernel/shm_rmid_forced /proc/self/oom_score_adj; "+
		"grep -c shared: /proc/self/mountinfo")
	mode := os.FileMode(0o600)
	uid := uint32(1000)
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid}}
	s.Linux.Sysctl = map[string]string{"kernel.shm_rmid_forced": "1"} // ipc-namespaced
	adj := 100
	s.Process.OOMScoreAdj = &adj
	s.Linux.RootfsPropagation = "rshared"
	out, ws := runContainer(t, bundle, s)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "/dev/mynull 1:3 600 1000" || lines[1] != "1" || lines[2] != "100" || lines[3] == "0" {
		t.Errorf("output %q (%s): want the device, the sysctl, oom_score_adj 100 and shared mounts", out, describeStatus(ws))
	}
}

// TestNoPivotRoot runs the MS_MOVE + chroot path, the one an initramfs
// root (the guest) takes because pivot_root refuses it.
func TestNoPivotRoot(t *testing.T) {
	bundle := busyboxBundle(t)
	s := testSpec("sh", "-c", "echo data > /written; grep -c ' - proc ' /proc/self/mountinfo; echo ready; exec sleep 1000")
	out := newCapture(t)
	o := options(t, bundle, s, out)
	o.NoPivotRoot = true
	c := create(t, o)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "ready")
	// Only the container's own proc is left in its mount namespace.
	if got := out.text(); got != "1\nready\n" {
		t.Errorf("output %q, want one proc mount", got)
	}
	if b, err := os.ReadFile(filepath.Join(bundle, "rootfs/written")); err != nil || string(b) != "data\n" {
		t.Errorf("write did not reach the bundle: %q, %v", b, err)
	}
	eout := newCapture(t)
	p, err := c.Exec(&specs.Process{Args: []string{"cat", "/written"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, nil, eout.w, eout.w, false)
	if err != nil {
		t.Fatal(err)
	}
	eout.closeWriter()
	p.Wait()
	if got := eout.wait(t); got != "data\n" {
		t.Errorf("exec into the chroot read %q", got)
	}
}
