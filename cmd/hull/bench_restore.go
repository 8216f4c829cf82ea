package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmm"
	"github.com/hullvm/hull/vmm/api"
)

// benchRestore is hull bench restore: the default image booted to
// hull-agent ready, beside the same VM restored from a snapshot taken at
// that point, in one run.
func benchRestore(args []string) int {
	fs := flag.NewFlagSet("bench restore", flag.ContinueOnError)
	runs := fs.Int("runs", 20, "measured restores (and boots, alternating)")
	boots := fs.Int("boots", 3, "measured boots (0: none)")
	mem := fs.Int("mem", 128, "guest memory in MiB")
	cpus := fs.Int("cpus", 1, "vCPUs")
	work := fs.String("dir", "", "where the snapshot and sockets go (default: a new directory under /dev/shm, removed after)")
	timeout := fs.Duration("timeout", 3*time.Minute, "for one boot or restore to reach the agent")
	benchUsage(fs, "restore [--runs N] [--boots N]", `Boots the default guest image (hull image build) with a vsock device
until hull-agent answers, pauses it, snapshots it, and then restores that
snapshot --runs times (each a new VM in this process), and boots it --boots
times, printing P50/min/max of: restore/boot call -> first KVM_RUN, -> the
agent answering over vsock; and the snapshot's size and time.`)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "bench restore: unexpected argument %q", fs.Arg(0))
	}
	if *runs < 1 || *mem < 64 || *cpus < 1 {
		return fail(exitUsage, "bench restore: --runs >= 1, --mem >= 64, --cpus >= 1")
	}
	kernel, initrd, err := guestimage.Default()
	if err != nil {
		return fail(exitError, "bench restore: %v", err)
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("/dev/shm", "hull-bench-restore-"); err != nil {
			return fail(exitError, "bench restore: %v", err)
		}
		defer os.RemoveAll(dir)
	}
	b := &restoreBench{kernel: kernel, initrd: initrd, mem: *mem, cpus: *cpus, dir: dir, timeout: *timeout}
	if err := b.run(*runs, *boots); err != nil {
		return fail(exitError, "bench restore: %v", err)
	}
	return 0
}

type restoreBench struct {
	kernel, initrd string
	mem, cpus      int
	dir            string
	timeout        time.Duration
	n              int
}

// sample is one VM start: to its first KVM_RUN and to the agent answering.
type sample struct{ firstRun, agent time.Duration }

func (b *restoreBench) vmDir() (string, error) {
	b.n++
	d := filepath.Join(b.dir, fmt.Sprint(b.n))
	return d, os.MkdirAll(d, 0o700)
}

func (b *restoreBench) config(dir string) vmm.Config {
	return vmm.Config{Kernel: b.kernel, Initrd: b.initrd, MemMiB: b.mem, CPUs: b.cpus,
		Cmdline: "console=ttyS0 reboot=k panic=-1 quiet", Console: io.Discard, ReadyMarker: agent.ReadyLine,
		Vsock: &vmm.Vsock{CID: 3, UDSPath: filepath.Join(dir, runtime.VsockFile)}}
}

// waitAgent dials the agent in dir until it answers Hello.
func (b *restoreBench) waitAgent(vm *vmm.VM, dir string) error {
	sb := runtime.VMSandbox("")
	deadline := time.Now().Add(b.timeout)
	for time.Now().Before(deadline) {
		select {
		case <-vm.Done():
			return fmt.Errorf("the VM stopped: %s", vm.Wait())
		default:
		}
		if c, err := sb.Dial(dir); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if cl, err := proto.NewClient(c); err == nil {
				cl.Close()
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("the agent did not answer within %v", b.timeout)
}

func (b *restoreBench) measure(vm *vmm.VM, dir string, t0 time.Time) (sample, error) {
	defer func() {
		vm.Stop()
		vm.Wait()
	}()
	if err := b.waitAgent(vm, dir); err != nil {
		return sample{}, err
	}
	s := sample{agent: time.Since(t0)}
	s.firstRun, _ = vm.Timeline().Lookup(vmm.EventFirstKVMRun)
	return s, nil
}

func (b *restoreBench) boot() (sample, error) {
	dir, err := b.vmDir()
	if err != nil {
		return sample{}, err
	}
	cfg := b.config(dir)
	t0 := time.Now()
	cfg.Start = t0
	vm, err := vmm.Start(context.Background(), cfg)
	if err != nil {
		return sample{}, err
	}
	return b.measure(vm, dir, t0)
}

func (b *restoreBench) restore(snap string) (sample, error) {
	dir, err := b.vmDir()
	if err != nil {
		return sample{}, err
	}
	t0 := time.Now()
	vm, err := vmm.Restore(context.Background(), vmm.RestoreConfig{Dir: snap, Start: t0, Console: io.Discard,
		VsockUDS: filepath.Join(dir, runtime.VsockFile)})
	if err != nil {
		return sample{}, err
	}
	return b.measure(vm, dir, t0)
}

func (b *restoreBench) run(runs, boots int) error {
	dir, err := b.vmDir()
	if err != nil {
		return err
	}
	cfg := b.config(dir)
	t0 := time.Now()
	cfg.Start = t0
	vm, err := vmm.Start(context.Background(), cfg)
	if err != nil {
		return err
	}
	if err := b.waitAgent(vm, dir); err != nil {
		vm.Stop()
		vm.Wait()
		return err
	}
	agentAt := time.Since(t0)
	if err := vm.Pause(); err != nil {
		return err
	}
	snap := filepath.Join(b.dir, "snapshot")
	res, err := vm.Snapshot(api.SnapshotRequest{Dir: snap})
	vm.Stop()
	vm.Wait()
	if err != nil {
		return err
	}
	fmt.Printf("hull bench restore: default image, %d MiB, %d vCPU(s); first boot to agent %v\n", b.mem, b.cpus, agentAt.Round(time.Millisecond))
	fmt.Printf("snapshot: %v, %.1f MiB of guest memory written (of %d MiB), state %d bytes\n",
		res.Took.Round(time.Microsecond), float64(res.MemBytes)/(1<<20), b.mem, res.StateSize)
	var rs, bs []sample
	for i := 0; i < max(runs, boots); i++ {
		if i < runs {
			s, err := b.restore(snap)
			if err != nil {
				return fmt.Errorf("restore %d: %w", i, err)
			}
			rs = append(rs, s)
		}
		if i < boots {
			s, err := b.boot()
			if err != nil {
				return fmt.Errorf("boot %d: %w", i, err)
			}
			bs = append(bs, s)
		}
	}
	fmt.Printf("%-8s %4s  %-32s  %-32s\n", "start", "runs", "to first KVM_RUN p50 (min-max)", "to agent answering p50 (min-max)")
	for _, r := range []struct {
		name string
		s    []sample
	}{{"restore", rs}, {"boot", bs}} {
		if len(r.s) == 0 {
			continue
		}
		fr := stats(r.s, func(s sample) time.Duration { return s.firstRun })
		ag := stats(r.s, func(s sample) time.Duration { return s.agent })
		fmt.Printf("%-8s %4d  %-32s  %-32s\n", r.name, len(r.s), fr, ag)
	}
	if len(bs) > 0 {
		p := func(s []sample) time.Duration { return p50(s, func(s sample) time.Duration { return s.agent }) }
		fmt.Printf("restore/boot to agent (p50): %.3f\n", float64(p(rs))/float64(p(bs)))
	}
	return nil
}

func p50(s []sample, f func(sample) time.Duration) time.Duration {
	v := make([]time.Duration, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func stats(s []sample, f func(sample) time.Duration) string {
	v := make([]time.Duration, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	slices.Sort(v)
	r := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
	return fmt.Sprintf("%s (%s-%s)", r(v[len(v)/2]), r(v[0]), r(v[len(v)-1]))
}
