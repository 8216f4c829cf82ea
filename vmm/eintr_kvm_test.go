package vmm

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
)

// TestKVMRunEINTRRetried: signals that interrupt KVM_RUN (Go's preemption
// uses SIGURG; so does our kick) must not stop or disturb the VM. A storm of
// SIGURG at every vCPU thread while the ioloop guest does 20000 port exits
// must end with the guest's own clean exit, and the retries must have
// happened (else the test proved nothing).
func TestKVMRunEINTRRetried(t *testing.T) {
	testtier.RequireKVM(t)
	dir := testtier.RequireFile(t, "HULL_TEST_GUESTS", "the test guests (make -C tests/guest)")
	guest := filepath.Join(dir, "ioloop.elf")
	m, err := build(Config{Kernel: guest, Cmdline: "n=20000", MemMiB: 64, CPUs: 2, TestExitPort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.close(); err != nil {
			t.Error(err)
		}
	}()
	stormDone := make(chan struct{})
	stopStorm := make(chan struct{})
	go func() {
		defer close(stormDone)
		for {
			select {
			case <-stopStorm:
				return
			default:
			}
			for _, c := range m.vcpus {
				if tid := c.tid.Load(); tid != 0 {
					_ = unix.Tgkill(unix.Getpid(), int(tid), unix.SIGURG) // ESRCH once a vCPU ended: fine
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exit := m.run(ctx)
	close(stopStorm)
	<-stormDone
	if exit.Reason != ReasonGuestExit || exit.Code != 0 {
		t.Fatalf("VM stopped with %s (code %d), want the guest's exit with code 0", exit, exit.Code)
	}
	if n := m.h.retries.Load(); n == 0 {
		t.Fatal("no KVM_RUN was interrupted: the storm did not reach the vCPU threads")
	} else {
		t.Logf("%d interrupted KVM_RUN calls retried", n)
	}
}
