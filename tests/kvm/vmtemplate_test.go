package kvmtests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/internal/testbundle"
	"github.com/hullvm/hull/runtime"
)

// TestVMSandboxTemplate: a container's VM restored from a template versus
// one booted, side by side: both run the container, the restored one's
// guest clock is the host's (the agent was told the time after the
// restore), and its timeline shows the restore.
func TestVMSandboxTemplate(t *testing.T) {
	e := newVMEnv(t)
	run := func(id string, template bool) (phases []runtime.VMPhase, out string) {
		t.Helper()
		dir := socketDir(t)
		testbundle.Rootfs(t, dir, "sh", "date", "cat")
		s := &specs.Spec{
			Version: specs.Version,
			Root:    &specs.Root{Path: "rootfs"},
			Process: &specs.Process{Args: []string{"sh", "-c", "date +%s; cat /proc/sys/kernel/random/boot_id"}, Cwd: "/", Env: []string{"PATH=/bin"}},
			Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
			Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
			}},
		}
		if !template {
			s.Annotations = map[string]string{runtime.AnnotationVMTemplate: "false"}
		}
		testbundle.WriteSpec(t, dir, s)
		logf := filepath.Join(t.TempDir(), "log.json")
		r := e.hull("--debug", "--log", logf, "--log-format", "json", "run", "--bundle", dir, id)
		if r.status != 0 {
			t.Fatalf("run %s: exit %d, stderr %q%s", id, r.status, r.stderr, e.logs())
		}
		f, err := os.Open(logf)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		all, err := runtime.ParseVMPhases(f)
		if err != nil {
			t.Fatal(err)
		}
		return all[id], r.stdout
	}
	at := func(ph []runtime.VMPhase, name string) time.Duration {
		for _, p := range ph {
			if p.Name == name {
				return p.At
			}
		}
		return -1
	}
	booted, bootOut := run("boot1", false)
	if at(booted, runtime.PhaseRestored) >= 0 {
		t.Fatalf("hull.vm.template=false restored a template: %v", booted)
	}
	run("tmpl0", true) // makes the template (boot + snapshot), then restores it
	restored, out := run("tmpl1", true)
	if at(restored, runtime.PhaseRestored) < 0 {
		t.Fatalf("no %q phase with a template in place: %v%s", runtime.PhaseRestored, restored, e.logs())
	}
	_, out2 := run("tmpl2", true)
	lines := strings.Fields(out)
	if len(lines) != 2 {
		t.Fatalf("container output %q", out)
	}
	guest, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil {
		t.Fatalf("date +%%s printed %q", lines[0])
	}
	if d := time.Now().Unix() - guest; d < -5 || d > 60 {
		t.Errorf("the restored guest's clock is %d s off the host's", d)
	}
	// Two VMs restored from one template must not share their random
	// state (the agent reseeds the CRNG after a restore): the boot_id,
	// drawn when first read, differs.
	if f2 := strings.Fields(out2); len(f2) != 2 || f2[1] == lines[1] {
		t.Errorf("two restores of one template drew the same random boot id: %q vs %q", out, out2)
	}
	t.Logf("agent ready: booted %v, restored from the template %v; container exited: booted %v, restored %v (boot output %q)",
		at(booted, runtime.PhaseAgentReady), at(restored, runtime.PhaseAgentReady),
		at(booted, runtime.PhaseContainerExited), at(restored, runtime.PhaseContainerExited), bootOut)
	if at(restored, runtime.PhaseAgentReady) >= at(booted, runtime.PhaseAgentReady) {
		t.Errorf("restoring the template (agent ready at %v) was no faster than booting (%v)",
			at(restored, runtime.PhaseAgentReady), at(booted, runtime.PhaseAgentReady))
	}
	e.wantEmptyRoot()
}
