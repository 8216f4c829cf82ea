package kvmtests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/vmm"
)

// TestAgentBoot boots the default guest image (guestimage: the guest
// kernel and an initramfs with hull-agent as /init) to the agent's ready
// line; hull.agent.exit=ready then powers it off, an i8042 reset with
// reboot=k. The agent writes the boot timer just before its ready line, so
// the timeline must hold a "boot timer" event.
func TestAgentBoot(t *testing.T) {
	testtier.RequireKVM(t)
	kernel := testtier.RequireFile(t, envImageKernel, "guest image kernel (make guest)")
	initrd := testtier.RequireFile(t, envImageInitrd, "guest image initramfs (make guest)")

	for _, cpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%dvcpu", cpus), func(t *testing.T) {
			cl := linuxCmdline() + " hull.agent.exit=ready hull.hostname=kvm-test"
			cfg := vmm.Config{Kernel: kernel, Initrd: initrd, Cmdline: cl, MemMiB: 256, CPUs: cpus,
				ReadyMarker: agent.ReadyLine}
			r := boot(t, cfg, linuxTimeout, agent.ReadyLine)
			wantStop(t, r, vmm.ReasonReset, 0)

			line := lineWith(r.out, agent.ReadyLine)
			if !strings.HasPrefix(line, agent.ReadyLine+" (hostname kvm-test, up ") {
				t.Errorf("ready line %q, want %q with hostname kvm-test", line, agent.ReadyLine)
			}
			for l := range strings.Lines(r.out) {
				if strings.HasPrefix(l, "hull-agent: ") && !strings.Contains(l, "powering off (hull.agent.exit=ready)") &&
					!strings.Contains(l, "no vsock device (not available yet)") {
					t.Errorf("unexpected agent line %q", strings.TrimSpace(l))
				}
			}

			tl := r.exit.Timeline
			var b strings.Builder
			_ = tl.Format(&b) // a strings.Builder does not fail
			t.Logf("default image, %d vCPU(s), 256 MiB: ready line after %v; timeline:\n%s",
				cpus, r.con.seenAt(agent.ReadyLine).Sub(r.start).Round(time.Millisecond), b.String())
			bt, ok := tl.Lookup(vmm.EventBootTimer)
			if !ok {
				t.Fatalf("no %q event on the timeline: the agent's /dev/mem write did not reach the device", vmm.EventBootTimer)
			}
			// Not "first serial byte": the kernel's tty layer transmits the
			// agent's earlier lines later, by interrupt, so the UART may see
			// them after the boot-timer store.
			if at, ok := tl.Lookup(vmm.EventFirstKVMRun); !ok || at > bt {
				t.Errorf("%q at %v (present %v), want it before the boot timer at %v", vmm.EventFirstKVMRun, at, ok, bt)
			}
			// The agent writes the boot timer, then prints its ready line.
			if ready, ok := tl.Lookup(vmm.EventReady); !ok || ready < bt {
				t.Errorf("%q at %v (present %v), want it after the boot timer at %v", vmm.EventReady, ready, ok, bt)
			}
			if stop, ok := tl.Lookup(vmm.EventStopped); !ok || stop < bt {
				t.Errorf("%q at %v (present %v), want it after the boot timer at %v", vmm.EventStopped, stop, ok, bt)
			}
		})
	}
}
