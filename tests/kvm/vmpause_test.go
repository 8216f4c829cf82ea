package kvmtests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestVMSandboxPause: hull pause stops the container's VM (its vCPUs) and
// hull resume lets it go on; a paused container takes SIGKILL only.
func TestVMSandboxPause(t *testing.T) {
	e := newVMEnv(t)
	b := vmBundle(t, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done")
	e.ok("run", "--detach", "--bundle", b, "vmp")
	defer e.hull("delete", "--force", "vmp")
	count := func() string {
		c, _ := os.ReadFile(filepath.Join(b, "rootfs/count"))
		return strings.TrimSpace(string(c))
	}
	changes := func(within time.Duration) bool {
		first := count()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if c := count(); c != first && c != "" {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	if !changes(60 * time.Second) {
		t.Fatalf("the container never counted%s", e.logs())
	}
	e.ok("pause", "vmp")
	if s := e.status("vmp"); s != "paused" {
		t.Fatalf("after pause: %s", s)
	}
	st := e.ok("vm", "status", "--api-sock", filepath.Join(e.root, "vmp", "vmm.sock"))
	if !strings.Contains(st.stdout, `"paused"`) {
		t.Fatalf("the VMM says %s", st.stdout)
	}
	time.Sleep(200 * time.Millisecond) // a write the guest had in flight lands
	if changes(time.Second) {
		t.Fatal("the count went on while the container was paused")
	}
	if r := e.hull("kill", "vmp", "TERM"); r.status == 0 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("kill TERM of a paused container: exit %d, %q", r.status, r.stderr)
	}
	e.ok("resume", "vmp")
	if s := e.status("vmp"); s != specs.StateRunning {
		t.Fatalf("after resume: %s", s)
	}
	if !changes(30 * time.Second) {
		t.Fatal("the count did not go on after resume")
	}
	e.ok("pause", "vmp")
	e.ok("kill", "vmp", "KILL")
	deadline := time.Now().Add(30 * time.Second)
	for e.status("vmp") != specs.StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("a paused container still not stopped 30 s after SIGKILL%s", e.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.ok("delete", "vmp")
}
