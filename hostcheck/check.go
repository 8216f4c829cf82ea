package hostcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hullvm/hull/kvm"
)

// Options tune Run. The zero value checks the real host.
type Options struct {
	// KVMPath is the KVM device; "" means /dev/kvm.
	KVMPath string
	// DevRoot is prepended to /dev/net/tun, /dev/vhost-vsock and
	// /dev/vhost-net; "" means "/".
	DevRoot string
	// SkipProbes leaves out the two guest probes.
	SkipProbes bool
	// ProbeBudget caps the time of both probes together; 0 means
	// DefaultProbeBudget.
	ProbeBudget time.Duration
}

// DefaultProbeBudget keeps `hull check` under 2 s even on a host that
// emulates guest kernel code.
const DefaultProbeBudget = 1500 * time.Millisecond

// syscallShare is the part of the probe budget kept for the SYSCALL probe.
const syscallShare = 4 // 1/4

// Capability is a KVM capability hull's VMM needs, and what for.
type Capability struct {
	Cap kvm.Cap
	Why string
}

// RequiredCaps is the one list of capabilities without which hull's VMM
// does not start: vmm refuses a host that lacks one, and `hull check`
// reports each, so a host that passes the check can boot.
var RequiredCaps = []Capability{
	{kvm.CapIRQChip, "in-kernel PIC, IOAPIC and local APICs"},
	{kvm.CapUserMemory, "guest memory from the VMM's mappings"},
	{kvm.CapPIT2, "in-kernel PIT timer"},
	{kvm.CapIRQFD, "device interrupts through eventfds"},
	{kvm.CapIOEventFD, "virtio queue notifications through eventfds"},
	{kvm.CapImmediateExit, "stopping vCPUs without races"},
	{kvm.CapExtCPUID, "KVM_SET_CPUID2"},
	{kvm.CapSetTSSAddr, "KVM_SET_TSS_ADDR (Intel real-mode emulation)"},
	{kvm.CapVCPUEvents, "injecting exceptions"},
	{kvm.CapMPState, "vCPU run states"},
}

// optionalDevice is a device file whose presence is reported.
type optionalDevice struct {
	path string
	why  string
}

var optionalDevices = []optionalDevice{
	{"/dev/net/tun", "TAP networking for virtio-net"},
	{"/dev/vhost-vsock", "in-kernel vsock backend (hull's vsock runs in the VMM; informational)"},
	{"/dev/vhost-net", "in-kernel virtio-net backend (informational)"},
}

// Run checks the host and returns the report.
func Run(opts Options) *Report {
	path := opts.KVMPath
	if path == "" {
		path = kvm.DefaultPath
	}
	budget := opts.ProbeBudget
	if budget <= 0 {
		budget = DefaultProbeBudget
	}
	r := &Report{}
	f := facts{kvmPath: path}
	checkKVM(r, &f, path, opts.SkipProbes, budget)
	for _, d := range optionalDevices {
		r.Items = append(r.Items, deviceItem(filepath.Join(rootOr(opts.DevRoot), d.path), d.path, d.why))
	}
	r.Verdict, r.Line = decide(f)
	if r.Probes != nil {
		r.Probes.KernelEmulated = kernelEmulated(f.cpl0NS, f.cpl3NS)
	}
	return r
}

func rootOr(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// checkKVM adds the KVM items and fills f.
func checkKVM(r *Report, f *facts, path string, skipProbes bool, budget time.Duration) {
	sys, err := kvm.Open(path)
	if err != nil {
		f.kvmErr = openWhy(err)
		r.Items = append(r.Items, Item{Name: path, Value: openValue(err), Note: f.kvmErr})
		return
	}
	defer func() {
		if err := sys.Close(); err != nil {
			f.brokenWhy = append(f.brokenWhy, fmt.Sprintf("close %s: %v", path, err))
		}
	}()
	r.Items = append(r.Items, Item{Name: path, Value: "opened read-write", OK: true})

	v, err := sys.APIVersion()
	switch {
	case err != nil:
		f.brokenWhy = append(f.brokenWhy, err.Error())
		r.Items = append(r.Items, Item{Name: "KVM API version", Value: "error", Note: err.Error()})
		return
	case v != 12:
		f.brokenWhy = append(f.brokenWhy, fmt.Sprintf("KVM API version %d, want 12", v))
		r.Items = append(r.Items, Item{Name: "KVM API version", Value: strconv.Itoa(v), Note: "want 12"})
		return
	}
	r.Items = append(r.Items, Item{Name: "KVM API version", Value: "12", OK: true})

	for _, c := range RequiredCaps {
		n, err := sys.CheckExtension(c.Cap)
		it := Item{Name: c.Cap.String(), Note: c.Why}
		switch {
		case err != nil:
			it.Value = "error"
			it.Note = err.Error()
			f.brokenWhy = append(f.brokenWhy, fmt.Sprintf("%v: %v", c.Cap, err))
		case n == 0:
			it.Value = "missing"
			f.brokenWhy = append(f.brokenWhy, "missing "+c.Cap.String())
		default:
			it.Value, it.OK = "yes", true
		}
		r.Items = append(r.Items, it)
	}
	r.Items = append(r.Items, maxVCPUsItem(sys))

	if skipProbes {
		r.Items = append(r.Items, Item{Name: "guest probes", Value: "skipped", Optional: true})
		return
	}
	runProbes(r, f, sys, budget)
}

// maxVCPUsItem reports KVM_CAP_MAX_VCPUS, falling back to KVM_CAP_NR_VCPUS
// and then to 4 (the API's documented default when neither is answered).
func maxVCPUsItem(sys *kvm.System) Item {
	it := Item{Name: "max vCPUs per VM", OK: true}
	if n, err := sys.CheckExtension(kvm.CapMaxVCPUs); err == nil && n > 0 {
		it.Value = strconv.Itoa(n)
		return it
	}
	if n, err := sys.CheckExtension(kvm.CapNrVCPUs); err == nil && n > 0 {
		it.Value, it.Note = strconv.Itoa(n), "KVM_CAP_NR_VCPUS (no KVM_CAP_MAX_VCPUS)"
		return it
	}
	it.Value, it.Note = "4", "neither KVM_CAP_MAX_VCPUS nor KVM_CAP_NR_VCPUS answered: API default"
	return it
}

// runProbes runs the CPL0/CPL3 and SYSCALL probes within budget.
func runProbes(r *Report, f *facts, sys *kvm.System, budget time.Duration) {
	start := time.Now()
	speedDeadline := start.Add(budget - budget/syscallShare)
	speed, speedErr := probeSpeed(sys, speedDeadline)
	sc, scErr := probeSyscall(sys, max(time.Until(start.Add(budget)), budget/syscallShare))

	if speedErr != nil {
		f.brokenWhy = append(f.brokenWhy, "CPL0/CPL3 probe: "+speedErr.Error())
		r.Items = append(r.Items, Item{Name: "guest CPL0/CPL3 loop", Value: "error", Note: speedErr.Error()})
	} else {
		f.cpl0NS, f.cpl3NS = speed.cpl0.nsPerIter, speed.cpl3.nsPerIter
		r.Items = append(r.Items, speedItems(speed)...)
	}
	if scErr != nil {
		f.brokenWhy = append(f.brokenWhy, "SYSCALL probe: "+scErr.Error())
		r.Items = append(r.Items, Item{Name: "SYSCALL from guest user mode", Value: "error", Note: scErr.Error()})
	} else {
		f.syscallOK = sc.works
		r.Items = append(r.Items, syscallItem(sc))
	}
	if speedErr == nil && scErr == nil {
		f.probesRun = true
		r.Probes = &ProbeResult{
			CPL0NsPerIter: speed.cpl0.nsPerIter, CPL3NsPerIter: speed.cpl3.nsPerIter,
			CPL0Iters: speed.cpl0.iters, CPL3Iters: speed.cpl3.iters,
			SyscallWorks: sc.works, SyscallExit: sc.exit,
		}
	}
}

// speedItems renders the loop measurements.
func speedItems(s speedResult) []Item {
	cpl3 := Item{Name: "guest CPL3 loop", OK: true,
		Value: fmt.Sprintf("%s/iteration", fmtNS(s.cpl3.nsPerIter)),
		Note:  fmt.Sprintf("%d iterations", s.cpl3.iters)}
	ratio := s.cpl0.nsPerIter / max(s.cpl3.nsPerIter, cpl3FloorNS)
	cpl0 := Item{Name: "guest CPL0 loop",
		Value: fmt.Sprintf("%s/iteration (%.1f× CPL3)", fmtNS(s.cpl0.nsPerIter), ratio),
		Note:  fmt.Sprintf("%d iterations", s.cpl0.iters)}
	if kernelEmulated(s.cpl0.nsPerIter, s.cpl3.nsPerIter) {
		cpl0.Note = "guest kernel code is emulated (PVM-like host): Linux boots take minutes"
	} else {
		cpl0.OK = true
	}
	return []Item{cpl3, cpl0}
}

// syscallItem renders the SYSCALL probe.
func syscallItem(s syscallResult) Item {
	if s.works {
		return Item{Name: "SYSCALL from guest user mode", Value: "works", OK: true, Note: "reached CPL0 at LSTAR (" + s.exit + ")"}
	}
	return Item{Name: "SYSCALL from guest user mode", Value: "faults at LSTAR",
		Note: "broken: 64-bit guest user space cannot make system calls (SYSCALL stays at CPL3; " + s.exit + ")"}
}

// openValue and openWhy describe a failed open of the KVM device.
func openValue(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	default:
		return "cannot open"
	}
}

func openWhy(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%v (this kernel has no KVM: no kvm module, or the host is itself a VM without nested virtualization)", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%v (add the user to the device's group, usually kvm, or run as root)", err)
	default:
		return err.Error()
	}
}

// deviceItem reports whether the device file at path (shown as name) exists.
func deviceItem(path, name, why string) Item {
	it := Item{Name: name, Optional: true, Note: why}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		it.Value = "missing"
	case err != nil:
		it.Value = "error"
		it.Note = err.Error()
	case st.Mode()&fs.ModeCharDevice == 0:
		it.Value = "not a character device"
	default:
		it.Value, it.OK = "present", true
	}
	return it
}
