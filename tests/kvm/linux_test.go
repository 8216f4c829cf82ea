package kvmtests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullvm/hull/initramfs"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/vmm"
)

// linuxCmdline is the command line of the Linux boot tests: serial console,
// reboot through the i8042 (hull stops with "reset"), reboot at once on a
// panic, and quiet, because every console byte is an exit. Extra parameters
// come from HULL_TEST_KERNEL_ARGS.
func linuxCmdline() string {
	cl := "console=ttyS0 reboot=k panic=-1 quiet"
	if extra := strings.TrimSpace(os.Getenv(envKernelArgs)); extra != "" {
		cl += " " + extra
	}
	return cl
}

// helloInitMarker starts the line hello-init prints.
const helloInitMarker = "hello-init: "

// TestLinuxBoot boots the guest kernel with a minimal initramfs whose /init
// is hello-init, which prints its PID, CPU count and /proc/cmdline and then
// reboots; with reboot=k that is an i8042 reset.
func TestLinuxBoot(t *testing.T) {
	testtier.RequireKVM(t)
	kernel := testtier.RequireFile(t, envKernel, "guest kernel (vmlinux)")
	initBin := testtier.RequireFile(t, envInit, "hello-init binary")
	initrd := writeInitrd(t, initBin)

	for _, cpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%dvcpu", cpus), func(t *testing.T) {
			cl := linuxCmdline()
			cfg := vmm.Config{Kernel: kernel, Initrd: initrd, Cmdline: cl, MemMiB: 256, CPUs: cpus}
			r := boot(t, cfg, linuxTimeout, helloInitMarker)
			if at := r.con.seenAt(helloInitMarker); !at.IsZero() {
				t.Logf("Linux boot, %d vCPU(s), 256 MiB: hello-init line after %v, VM stopped after %v (wall time of vmm.Run)",
					cpus, at.Sub(r.start).Round(1e6), r.wall.Round(1e6))
			} else {
				t.Logf("Linux boot, %d vCPU(s), 256 MiB: no hello-init line, VM stopped after %v", cpus, r.wall.Round(1e6))
			}

			line := lineWith(r.out, helloInitMarker)
			want := fmt.Sprintf("hello-init: pid=1 ncpu=%d cmdline=", cpus)
			switch {
			case line == "":
				t.Errorf("no %q line on the console", helloInitMarker)
			case !strings.HasPrefix(line, want):
				t.Errorf("init printed %q, want a line starting %q", line, want)
			case !strings.Contains(strings.TrimPrefix(line, want), cl):
				// The VMM may add parameters (devices) but must pass ours on.
				t.Errorf("/proc/cmdline is %q, want it to hold %q", strings.TrimPrefix(line, want), cl)
			}
			wantStop(t, r, vmm.ReasonReset, 0)
		})
	}
}

// writeInitrd builds initramfs.Minimal(hello-init) in a temp dir.
func writeInitrd(t *testing.T, initBin string) string {
	t.Helper()
	data, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "hello-init.cpio")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	err = initramfs.Write(f, initramfs.Minimal(data), initramfs.Options{})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing the initramfs: %v", err)
	}
	return p
}
