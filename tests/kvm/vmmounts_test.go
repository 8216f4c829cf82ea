package kvmtests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/runtime"
)

// TestVMSandboxBindMounts: bind mounts of host paths reach the container
// in its microVM (the VMM's bind mounts share): a writable directory
// (rbind) the host sees the container's writes in, a read-only file and a
// read-only directory the container cannot write, a source relative to
// the bundle; device-node sources stay the guest's. Through a template
// restore and a boot alike. The host's mount table never has the VMM's
// binds, and the sources survive the delete.
func TestVMSandboxBindMounts(t *testing.T) {
	e := newVMEnv(t)
	host := socketDir(t) // the sources: off the nested runner's 9p root
	data, rodir := filepath.Join(host, "data"), filepath.Join(host, "rodir")
	for _, d := range []string{data, rodir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(data, "in.txt"), "from the host\n")
	write(filepath.Join(rodir, "keep"), "kept\n")
	hostsFile := filepath.Join(host, "hosts")
	write(hostsFile, "10.0.0.7 db\n")

	script := `cat /data/in.txt; echo from the guest > /data/out.txt; cat /etc/hosts
echo x >> /etc/hosts && echo WROTE-RO-FILE
echo x > /rodir/new && echo WROTE-RO-DIR
cat /rodir/keep; cat /extra/note; echo z > /null2 && echo null ok`
	for _, c := range []struct {
		id       string
		template bool
	}{{"bind-tmpl", true}, {"bind-boot", false}} {
		t.Run(c.id, func(t *testing.T) {
			b := socketDir(t)
			testbundle.Rootfs(t, b, "sh", "cat", "echo")
			if err := os.MkdirAll(filepath.Join(b, "extra"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(filepath.Join(b, "extra", "note"), "relative to the bundle\n")
			s := &specs.Spec{
				Version: specs.Version,
				Root:    &specs.Root{Path: "rootfs"},
				Process: &specs.Process{Args: []string{"sh", "-c", script}, Cwd: "/", Env: []string{"PATH=/bin"}},
				Mounts: []specs.Mount{
					{Destination: "/proc", Type: "proc", Source: "proc"},
					{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "rw"}},
					{Destination: "/etc/hosts", Type: "bind", Source: hostsFile, Options: []string{"bind", "ro"}},
					{Destination: "/rodir", Source: rodir, Options: []string{"bind", "ro"}},
					{Destination: "/extra", Source: "extra", Options: []string{"bind"}},
					{Destination: "/null2", Source: "/dev/null", Options: []string{"bind"}},
				},
				Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
					{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
				}},
			}
			if !c.template {
				s.Annotations = map[string]string{runtime.AnnotationVMTemplate: "false"}
			}
			testbundle.WriteSpec(t, b, s)
			os.Remove(filepath.Join(data, "out.txt"))
			r := e.hull("run", "--bundle", b, c.id)
			want := "from the host\n10.0.0.7 db\nkept\nrelative to the bundle\nnull ok\n"
			if r.status != 0 || r.stdout != want {
				t.Fatalf("run: exit %d\nstdout %q\nwant   %q\nstderr %q%s", r.status, r.stdout, want, r.stderr, e.logs())
			}
			if !strings.Contains(r.stderr, "Read-only file system") {
				t.Errorf("writes to the read-only binds: stderr %q, want EROFS", r.stderr)
			}
			if got, _ := os.ReadFile(filepath.Join(data, "out.txt")); string(got) != "from the guest\n" {
				t.Errorf("the container's write in the host's directory: %q", got)
			}
			if got, _ := os.ReadFile(hostsFile); string(got) != "10.0.0.7 db\n" {
				t.Errorf("the read-only file on the host: %q", got)
			}
			if _, err := os.Stat(filepath.Join(rodir, "new")); err == nil {
				t.Error("the container wrote into the read-only directory")
			}
			e.wantEmptyRoot()
		})
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), e.root) {
		t.Errorf("the host's mount table has mounts under --root %s:\n%s", e.root, mi)
	}
	if got, _ := os.ReadFile(filepath.Join(data, "in.txt")); string(got) != "from the host\n" {
		t.Errorf("a source after the delete: %q", got)
	}
}

// TestVMSandboxBindMissing: a bind mount whose source does not exist is
// refused by create before a VM starts, as runc refuses it.
func TestVMSandboxBindMissing(t *testing.T) {
	e := newVMEnv(t)
	b := vmBundle(t, "true")
	var s specs.Spec
	raw, _ := os.ReadFile(filepath.Join(b, "config.json"))
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/nonexistent/hull-bind", Options: []string{"rbind"}})
	testbundle.WriteSpec(t, b, &s)
	r := e.hull("create", "--bundle", b, "bind-missing")
	if r.status == 0 || !strings.Contains(r.stderr, "/nonexistent/hull-bind") {
		t.Fatalf("create: exit %d, stderr %q: want a refusal naming the source", r.status, r.stderr)
	}
	e.wantEmptyRoot()
}
