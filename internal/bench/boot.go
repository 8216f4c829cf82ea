package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Boot benchmark defaults.
const (
	DefaultBootCmdline = "console=ttyS0 reboot=k panic=-1 quiet"
	DefaultMarker      = "hello-init:"
	DefaultQEMU        = "qemu-system-x86_64"
	DefaultBootTimeout = 30 * time.Second
	DefaultExitGrace   = 10 * time.Second // marker -> exit; hull takes well under a second, nested too
)

// Targets from the benchmark issue, printed beside the measured figures.
const (
	TargetBootRatio    = 0.5     // hull / QEMU, P50 spawn → marker
	TargetVMMOverhead  = 5 << 20 // bytes: VMM RSS - guest resident
	TargetIOExitRatio  = 1.3     // hull / C, ns per I/O exit
	failureOutputLines = 15
)

// BootOptions configures RunBoot. Zero values take the defaults above
// (Runs 10, CPUs 1, MemMiB 256, Warmup 0).
type BootOptions struct {
	Hull   string // the hull executable; each run is `Hull vm boot ...`
	QEMU   string // QEMU executable; "" looks up DefaultQEMU in PATH
	NoQEMU bool   // hull alone

	Kernel, Initrd string
	Cmdline        string // the same for hull and QEMU
	Marker         string // the line on the guest's console that ends "boot"

	Runs      int // measured runs of each VMM, alternating
	Warmup    int // unmeasured runs of each before them
	CPUs      int
	MemMiB    int
	Timeout   time.Duration // per run
	ExitGrace time.Duration // a run that has not exited this long after the marker fails

	Progress io.Writer // one line per run; nil: silent
}

func (o *BootOptions) defaults() {
	if o.Cmdline == "" {
		o.Cmdline = DefaultBootCmdline
	}
	if o.Marker == "" {
		o.Marker = DefaultMarker
	}
	if o.Runs <= 0 {
		o.Runs = 10
	}
	if o.CPUs <= 0 {
		o.CPUs = 1
	}
	if o.MemMiB <= 0 {
		o.MemMiB = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultBootTimeout
	}
	if o.ExitGrace <= 0 {
		o.ExitGrace = DefaultExitGrace
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// BootRun is one boot of one VMM.
type BootRun struct {
	VMM      string `json:"vmm"` // "hull" or "qemu"
	Run      int    `json:"run"` // 1-based; warm-up runs are not kept
	OK       bool   `json:"ok"`
	Failure  string `json:"failure,omitempty"`
	ExitCode int    `json:"exit_code"`

	ToMarker time.Duration `json:"to_marker_ns"` // spawn → marker on stdout
	ToExit   time.Duration `json:"to_exit_ns"`   // spawn → process exit

	// hull only, from its --timeline-json (0 / false when unavailable)
	FirstKVMRun   time.Duration `json:"first_kvm_run_ns,omitempty"` // process start → first KVM_RUN
	HasMemory     bool          `json:"has_memory,omitempty"`
	VMMRSS        uint64        `json:"vmm_rss,omitempty"`
	GuestResident uint64        `json:"guest_resident,omitempty"`
	Note          string        `json:"note,omitempty"` // why a hull figure is missing

	Tail string `json:"output_tail,omitempty"` // failures only
}

// BootReport is the outcome of RunBoot.
type BootReport struct {
	Kernel   string    `json:"kernel"`
	Initrd   string    `json:"initrd"`
	Cmdline  string    `json:"cmdline"`
	Marker   string    `json:"marker"`
	CPUs     int       `json:"cpus"`
	MemMiB   int       `json:"mem_mib"`
	Runs     int       `json:"runs"`
	Warmup   int       `json:"warmup"`
	QEMU     string    `json:"qemu,omitempty"`      // the QEMU that ran, "" when none
	QEMUNote string    `json:"qemu_note,omitempty"` // why QEMU did not run
	Hull     []BootRun `json:"hull"`
	QEMURuns []BootRun `json:"qemu_runs,omitempty"`
	Stats    BootStats `json:"stats"`
}

// BootStats summarizes the successful runs.
type BootStats struct {
	HullToMarker    Summary[time.Duration] `json:"hull_to_marker_ns"`
	HullToExit      Summary[time.Duration] `json:"hull_to_exit_ns"`
	HullFirstKVMRun Summary[time.Duration] `json:"hull_first_kvm_run_ns"`
	HullVMMRSS      Summary[uint64]        `json:"hull_vmm_rss"`
	HullGuestRes    Summary[uint64]        `json:"hull_guest_resident"`
	HullOverhead    Summary[uint64]        `json:"hull_vmm_overhead"` // VMM RSS - guest resident
	QEMUToMarker    Summary[time.Duration] `json:"qemu_to_marker_ns"`
	QEMUToExit      Summary[time.Duration] `json:"qemu_to_exit_ns"`
	// Ratio is hull / QEMU of the P50 spawn → marker; 0 without both.
	Ratio float64 `json:"ratio_to_marker_p50"`
}

// baseline finds the program a benchmark compares hull with: given (a
// name or path that must exist), else def from PATH, else none with a
// note saying why; off (--no-<name>) skips it with a note.
func baseline(bench, name, given, def string, off bool) (path, note string, err error) {
	switch {
	case off:
		return "", fmt.Sprintf("%s baseline not run: --no-%s", name, strings.ToLower(name)), nil
	case given != "":
		p, err := exec.LookPath(given)
		if err != nil {
			return "", "", fmt.Errorf("%s: %s: %w", bench, name, err)
		}
		return p, "", nil
	}
	if p, err := exec.LookPath(def); err == nil {
		return p, "", nil
	}
	return "", fmt.Sprintf("no %s in PATH: reporting hull alone, no ratio", def), nil
}

// RunBoot boots the kernel and initrd Warmup+Runs times under hull and under
// QEMU (microvm), alternating which goes first, and summarizes the runs that
// reached the marker and exited cleanly. An error means the benchmark could
// not run (or ctx ended); failed runs are in the report.
func RunBoot(ctx context.Context, o BootOptions) (*BootReport, error) {
	o.defaults()
	rep := &BootReport{Kernel: o.Kernel, Initrd: o.Initrd, Cmdline: o.Cmdline, Marker: o.Marker,
		CPUs: o.CPUs, MemMiB: o.MemMiB, Runs: o.Runs, Warmup: o.Warmup}
	if o.Hull == "" || o.Kernel == "" || o.Initrd == "" {
		return nil, errors.New("bench boot: hull, kernel and initrd are required")
	}
	for _, f := range []string{o.Kernel, o.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("bench boot: %w", err)
		}
	}
	var err error
	if rep.QEMU, rep.QEMUNote, err = baseline("bench boot", "QEMU", o.QEMU, DefaultQEMU, o.NoQEMU); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "hull-bench-boot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	for i := 0; i < o.Warmup+o.Runs; i++ {
		vmms := []string{"hull", "qemu"}
		if i%2 == 1 {
			vmms = []string{"qemu", "hull"}
		}
		for _, vmm := range vmms {
			if vmm == "qemu" && rep.QEMU == "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				rep.summarize()
				return rep, err
			}
			var r BootRun
			if vmm == "hull" {
				r = bootHull(ctx, &o, filepath.Join(tmp, "timeline-"+strconv.Itoa(i)+".json"))
			} else {
				r = bootQEMU(ctx, &o, rep.QEMU)
			}
			label := "warm-up"
			if i >= o.Warmup {
				r.Run = i - o.Warmup + 1
				label = fmt.Sprintf("run %d/%d", r.Run, o.Runs)
				if vmm == "hull" {
					rep.Hull = append(rep.Hull, r)
				} else {
					rep.QEMURuns = append(rep.QEMURuns, r)
				}
			}
			fmt.Fprintf(o.Progress, "bench boot: %s %-4s %s\n", label, vmm, r.progress())
		}
	}
	rep.summarize()
	return rep, nil
}

func bootHull(ctx context.Context, o *BootOptions, timelineJSON string) BootRun {
	argv := []string{o.Hull, "vm", "boot", "--kernel", o.Kernel, "--initrd", o.Initrd,
		"--cmdline", o.Cmdline, "--mem", strconv.Itoa(o.MemMiB), "--cpus", strconv.Itoa(o.CPUs),
		"--timeline-json", timelineJSON}
	_ = os.Remove(timelineJSON)
	r := bootRun("hull", measure(ctx, argv, o.Marker, o.Timeout, o.ExitGrace), o.Marker)
	vr, err := readVMReport(timelineJSON)
	if err != nil {
		r.Note = err.Error()
		return r
	}
	if d, ok := vr.event(eventFirstKVMRun); ok {
		r.FirstKVMRun = d
	} else {
		r.Note = fmt.Sprintf("no %q event in hull's timeline", eventFirstKVMRun)
	}
	if vr.Memory != nil && vr.Memory.VMMRSS > 0 { // zero: hull could not measure it
		r.HasMemory, r.VMMRSS, r.GuestResident = true, vr.Memory.VMMRSS, vr.Memory.GuestResident
	}
	return r
}

// qemuArgs is the QEMU baseline's machine: microvm as hull's, plus the
// i8042 that hull has and microvm lacks. Without it the guest's restart
// (reboot=k) falls back to a real-mode BIOS restart that takes seconds (tens
// of seconds nested) before QEMU sees a reset and exits (-no-reboot); the
// guest kernel has no i8042 driver (CONFIG_SERIO off), so the device costs
// the boot nothing.
var qemuArgs = []string{"-M", "microvm,acpi=off", "-enable-kvm", "-cpu", "host", "-device", "i8042"}

func bootQEMU(ctx context.Context, o *BootOptions, qemu string) BootRun {
	argv := append([]string{qemu}, qemuArgs...)
	argv = append(argv, "-m", strconv.Itoa(o.MemMiB), "-smp", strconv.Itoa(o.CPUs),
		"-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
		"-kernel", o.Kernel, "-initrd", o.Initrd, "-append", o.Cmdline, "-no-reboot")
	return bootRun("qemu", measure(ctx, argv, o.Marker, o.Timeout, o.ExitGrace), o.Marker)
}

// bootRun judges a measured process: it must show the marker and exit 0.
func bootRun(vmm string, p procRun, marker string) BootRun {
	r := BootRun{VMM: vmm, ExitCode: p.ExitCode, ToMarker: p.ToMarker, ToExit: p.ToExit}
	switch {
	case p.Err != nil:
		r.Failure = p.Err.Error()
	case !p.Marker:
		r.Failure = fmt.Sprintf("no %q on stdout before exit (status %d)", marker, p.ExitCode)
	case p.ExitCode != 0:
		r.Failure = fmt.Sprintf("exit status %d after the marker", p.ExitCode)
	default:
		r.OK = true
	}
	if !r.OK {
		r.Tail = p.Tail
	}
	return r
}

func (r *BootRun) progress() string {
	if !r.OK {
		return "FAILED: " + r.Failure
	}
	s := fmt.Sprintf("marker %s, exit %s", ms(r.ToMarker), ms(r.ToExit))
	if r.FirstKVMRun > 0 {
		s += ", first KVM_RUN " + ms(r.FirstKVMRun)
	}
	if r.HasMemory {
		s += ", VMM RSS - guest " + mib(overhead(r.VMMRSS, r.GuestResident))
	}
	return s
}

func overhead(rss, guest uint64) uint64 {
	if guest > rss {
		return 0
	}
	return rss - guest
}

func (rep *BootReport) summarize() {
	var toMarker, toExit, firstRun []time.Duration
	var rss, guest, over []uint64
	for _, r := range rep.Hull {
		if !r.OK {
			continue
		}
		toMarker, toExit = append(toMarker, r.ToMarker), append(toExit, r.ToExit)
		if r.FirstKVMRun > 0 {
			firstRun = append(firstRun, r.FirstKVMRun)
		}
		if r.HasMemory {
			rss, guest = append(rss, r.VMMRSS), append(guest, r.GuestResident)
			over = append(over, overhead(r.VMMRSS, r.GuestResident))
		}
	}
	s := &rep.Stats
	s.HullToMarker, s.HullToExit, s.HullFirstKVMRun = Summarize(toMarker), Summarize(toExit), Summarize(firstRun)
	s.HullVMMRSS, s.HullGuestRes, s.HullOverhead = Summarize(rss), Summarize(guest), Summarize(over)
	toMarker, toExit = nil, nil
	for _, r := range rep.QEMURuns {
		if r.OK {
			toMarker, toExit = append(toMarker, r.ToMarker), append(toExit, r.ToExit)
		}
	}
	s.QEMUToMarker, s.QEMUToExit = Summarize(toMarker), Summarize(toExit)
	s.Ratio = 0
	if s.HullToMarker.N > 0 && s.QEMUToMarker.N > 0 && s.QEMUToMarker.P50 > 0 {
		s.Ratio = float64(s.HullToMarker.P50) / float64(s.QEMUToMarker.P50)
	}
}
