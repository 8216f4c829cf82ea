package kvmtests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/tests/guest/guesttest"
	"github.com/hullvm/hull/vmm"
)

func TestHelloGuest(t *testing.T) {
	r := bootGuest(t, "hello", vmm.Config{})
	wantStop(t, r, vmm.ReasonGuestExit, 0)
	wantOutput(t, r, guesttest.HelloLine+"\n")
}

func TestExitCodeGuest(t *testing.T) {
	r := bootGuest(t, "exitcode", vmm.Config{})
	wantStop(t, r, vmm.ReasonGuestExit, guesttest.ExitcodeCode)
	wantOutput(t, r, "")
}

func TestCmdlineGuest(t *testing.T) {
	for name, cl := range map[string]string{
		"typical": `console=ttyS0 reboot=k panic=-1 hull.test=cmdline-42 quoted="a b"`,
		"empty":   "",
		"longest": strings.Repeat("x", 2047), // COMMAND_LINE_SIZE less the NUL
	} {
		t.Run(name, func(t *testing.T) {
			r := bootGuest(t, "cmdline", vmm.Config{Cmdline: cl})
			wantStop(t, r, vmm.ReasonGuestExit, 0)
			wantOutput(t, r, guesttest.CmdlineLine(cl)+"\n")
		})
	}
}

// TestE820Guest compares the map the guest finds in its zero page with the
// one DESIGN.md §3 promises, below and across the MMIO gap.
func TestE820Guest(t *testing.T) {
	for _, mem := range []int{256, 4096} {
		t.Run(fmt.Sprintf("%dMiB", mem), func(t *testing.T) {
			r := bootGuest(t, "e820", vmm.Config{MemMiB: mem})
			wantStop(t, r, vmm.ReasonGuestExit, 0)
			wantOutput(t, r, guesttest.E820Output(guesttest.HullE820(mem)))
		})
	}
}

func TestTripleFaultGuest(t *testing.T) {
	r := bootGuest(t, "triplefault", vmm.Config{})
	wantStop(t, r, vmm.ReasonTripleFault, 0)
	if got := r.exit.Reason.String(); got != "triple fault" {
		t.Errorf("Reason.String() = %q, want %q", got, "triple fault")
	}
	wantOutput(t, r, guesttest.TripleFaultLine+"\n")
}

func TestResetGuest(t *testing.T) {
	r := bootGuest(t, "reset", vmm.Config{})
	wantStop(t, r, vmm.ReasonReset, 0)
	if got := r.exit.Reason.String(); got != "reset" {
		t.Errorf("Reason.String() = %q, want %q", got, "reset")
	}
	wantOutput(t, r, guesttest.ResetLine+"\n")
}

// TestSMPGuest starts vCPU 1 from the guest with INIT-SIPI-SIPI through the
// in-kernel LAPIC; the AP prints from real mode before it is counted.
func TestSMPGuest(t *testing.T) {
	r := bootGuest(t, "smp", vmm.Config{CPUs: 2})
	wantStop(t, r, vmm.ReasonGuestExit, 0)
	wantOutput(t, r, guesttest.SMPStartLine+"\n"+guesttest.SMPAPLine+"\n"+guesttest.SMPUpLine+"\n")
}

// TestSMPGuestOneCPU: with one vCPU nobody answers the IPIs; the guest gives
// up after its (about one second) timeout and says so.
func TestSMPGuestOneCPU(t *testing.T) {
	r := bootGuest(t, "smp", vmm.Config{CPUs: 1})
	wantStop(t, r, vmm.ReasonGuestExit, 1)
	wantOutput(t, r, guesttest.SMPStartLine+"\n"+guesttest.SMPOnlyOne+"\n")
}

// TestSerialFloodGuest checks 64 KiB of console output byte for byte, a
// quarter written with outb, the rest with rep outsb (string I/O exits).
func TestSerialFloodGuest(t *testing.T) {
	r := bootGuest(t, "serialflood", vmm.Config{})
	wantStop(t, r, vmm.ReasonGuestExit, 0)
	want := guesttest.FloodOutput()
	if r.out == want {
		return
	}
	got, exp := strings.Split(r.out, "\n"), strings.Split(want, "\n")
	for i := range min(len(got), len(exp)) {
		if got[i] != exp[i] {
			t.Fatalf("%d bytes of output, want %d; first difference on line %d:\n got %q\nwant %q",
				len(r.out), len(want), i, got[i], exp[i])
		}
	}
	t.Fatalf("%d bytes (%d lines) of output, want %d bytes (%d lines)", len(r.out), len(got), len(want), len(exp))
}

func TestIOLoopGuest(t *testing.T) {
	const n = 1000
	r := bootGuest(t, "ioloop", vmm.Config{Cmdline: "quiet " + guesttest.IOLoopCmdline(n)})
	wantStop(t, r, vmm.ReasonGuestExit, 0)
	wantOutput(t, r, guesttest.IOLoopStart(n)+"\n"+guesttest.IOLoopDone+"\n")
}

// TestCancel stops a guest that never exits by cancelling Run's context;
// with two vCPUs the second one sits in KVM_RUN waiting for INIT, so the
// kick must reach a vCPU blocked in the kernel too.
func TestCancel(t *testing.T) {
	const limit = time.Second
	for _, cpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%dvcpu", cpus), func(t *testing.T) {
			testtier.RequireKVM(t)
			cfg := vmm.Config{Kernel: guestELF(t, "spin"), TestExitPort: true, CPUs: cpus}
			con := newConsole(guesttest.SpinLine)
			cfg.Console = con
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type ret struct {
				exit *vmm.Exit
				err  error
			}
			done := make(chan ret, 1)
			go func() {
				exit, err := vmm.Run(ctx, cfg)
				done <- ret{exit, err}
			}()
			select {
			case <-con.seen(guesttest.SpinLine):
			case r := <-done:
				t.Fatalf("Run returned before cancel: exit %v, err %v; console %q", r.exit, r.err, con.String())
			case <-time.After(guestTimeout):
				cancel()
				t.Fatalf("no %q within %v; console %q", guesttest.SpinLine, guestTimeout, con.String())
			}
			time.Sleep(50 * time.Millisecond) // let the guest get into its loop
			cancelled := time.Now()
			cancel()
			select {
			case r := <-done:
				took := time.Since(cancelled)
				if r.err != nil {
					t.Fatalf("Run: %v", r.err)
				}
				if r.exit.Reason != vmm.ReasonCancelled {
					t.Errorf("stopped with %q (%s), want %q", r.exit.Reason, r.exit.Message, vmm.ReasonCancelled)
				}
				if took > limit {
					t.Errorf("Run returned %v after cancel, want within %v", took, limit)
				}
				t.Logf("Run returned %v after cancel", took)
			case <-time.After(10 * time.Second):
				t.Fatalf("Run still running 10 s after cancel")
			}
		})
	}
}
