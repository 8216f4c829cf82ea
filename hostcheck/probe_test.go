package hostcheck

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/kvm"
)

func openKVM(t *testing.T) *kvm.System {
	t.Helper()
	testtier.RequireKVM(t)
	sys, err := kvm.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Error(err)
		}
	})
	return sys
}

func TestKVMProbeSpeed(t *testing.T) {
	sys := openKVM(t)
	start := time.Now()
	res, err := probeSpeed(sys, time.Now().Add(DefaultProbeBudget))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CPL3 %.3f ns/iter (%d iters), CPL0 %.3f ns/iter (%d iters), %v",
		res.cpl3.nsPerIter, res.cpl3.iters, res.cpl0.nsPerIter, res.cpl0.iters, time.Since(start))
	if res.cpl0.nsPerIter <= 0 || res.cpl3.nsPerIter <= 0 || res.cpl0.iters < firstIters || res.cpl3.iters < firstIters {
		t.Errorf("implausible measurement %+v", res)
	}
}

func TestKVMProbeSyscall(t *testing.T) {
	sys := openKVM(t)
	res, err := probeSyscall(sys, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SYSCALL works: %v (%s)", res.works, res.exit)
}

// TestKVMRun runs the whole check. It must finish in time and reach a verdict
// from its probes: healthy or emulated, never broken, on any working KVM.
func TestKVMRun(t *testing.T) {
	testtier.RequireKVM(t)
	start := time.Now()
	r := Run(Options{})
	took := time.Since(start)
	var b bytes.Buffer
	if err := r.Format(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("%v\n%s", took, b.String())
	if r.Verdict != Healthy && r.Verdict != Emulated {
		t.Errorf("verdict %v: %s", r.Verdict, r.VerdictLine())
	}
	if r.Probes == nil {
		t.Error("no probe results")
	}
	if took > 3*time.Second {
		t.Errorf("check took %v", took)
	}
}

// TestKVMRunGuestTimeout: a guest that never exits is kicked out of KVM_RUN
// (immediate_exit plus a signal to the vCPU thread) at the timeout.
func TestKVMRunGuestTimeout(t *testing.T) {
	sys := openKVM(t)
	p, err := newProbeVM(sys)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.close(); err != nil {
			t.Error(err)
		}
	}()
	copy(p.mem[userCodeAddr:], []byte{0xEB, 0xFE}) // jmp $
	cpu, err := p.newVCPU(3, userCodeAddr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	start := time.Now()
	_, _, err = runGuest(cpu, 100*time.Millisecond)
	if !errors.Is(err, errTimeout) {
		t.Fatalf("runGuest = %v, want errTimeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("kick took %v", took)
	}
}
