package hostcheck

import (
	"fmt"
	"strings"
)

// Verdict is the one-word outcome of a host check.
type Verdict int

// Verdicts, from best to worst for running microVMs.
const (
	// Healthy: KVM works and guest kernel and user code run natively.
	Healthy Verdict = iota
	// Emulated: KVM is present but guest kernel (CPL0) code is emulated or
	// SYSCALL from guest user mode does not work (a PVM-like host): Linux
	// guests boot very slowly and cannot run 64-bit user space.
	Emulated
	// NoKVM: /dev/kvm is missing or cannot be opened.
	NoKVM
	// Broken: /dev/kvm opens but a needed capability is missing or a probe
	// failed.
	Broken
)

var verdictNames = [...]string{Healthy: "healthy", Emulated: "emulated", NoKVM: "no-kvm", Broken: "broken"}

func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// MarshalText makes a Verdict a string in JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// ExitCode is the process exit status for v: 0 healthy, 1 no or broken KVM,
// 2 emulated.
func (v Verdict) ExitCode() int {
	switch v {
	case Healthy:
		return 0
	case Emulated:
		return 2
	default:
		return 1
	}
}

// Thresholds for calling guest kernel code emulated: CPL0 must be more than
// emulatedRatio times slower per loop iteration than CPL3 and at least
// emulatedMinNS slower in absolute terms (so timer noise on a tiny native
// CPL3 figure cannot trip it). Native hosts measure ~0.3–1 ns/iteration at
// both levels (ratio ~1); a PVM host emulates CPL0 at ~1–2 µs per
// instruction (ratio in the thousands).
const (
	emulatedRatio = 20
	emulatedMinNS = 10
	cpl3FloorNS   = 0.05 // ns/iteration used when CPL3 measures below it
)

// kernelEmulated reports whether the CPL0 loop is emulated, given ns per
// iteration at CPL0 and CPL3.
func kernelEmulated(cpl0NS, cpl3NS float64) bool {
	base := max(cpl3NS, cpl3FloorNS)
	return cpl0NS > emulatedRatio*base && cpl0NS-cpl3NS > emulatedMinNS
}

// facts is what Run measured, the input of decide.
type facts struct {
	kvmErr    string   // why /dev/kvm cannot be used; "" when it opened
	brokenWhy []string // API version, missing capabilities, probe errors
	probesRun bool     // both probes produced a result
	cpl0NS    float64
	cpl3NS    float64
	syscallOK bool
	kvmPath   string
}

// nestedHint points at the way to get working KVM anyway.
const nestedHint = "run KVM workloads on a healthy KVM host, or under the nested KVM runner " +
	"(tests/nested/nested-kvm: QEMU -cpu max with nested SVM)"

// decide turns facts into the verdict and its one-line explanation.
func decide(f facts) (Verdict, string) {
	if f.kvmErr != "" {
		return NoKVM, fmt.Sprintf("no KVM: %s; %s", f.kvmErr, nestedHint)
	}
	if len(f.brokenWhy) > 0 {
		return Broken, fmt.Sprintf("broken KVM at %s: %s; %s", f.kvmPath, strings.Join(f.brokenWhy, "; "), nestedHint)
	}
	if !f.probesRun {
		return Healthy, fmt.Sprintf("healthy: KVM at %s has every needed capability (guest probes skipped)", f.kvmPath)
	}
	var bad []string
	if kernelEmulated(f.cpl0NS, f.cpl3NS) {
		bad = append(bad, fmt.Sprintf("guest kernel code is emulated (CPL0 %s vs CPL3 %s per loop iteration, %.0f× slower)",
			fmtNS(f.cpl0NS), fmtNS(f.cpl3NS), f.cpl0NS/max(f.cpl3NS, cpl3FloorNS)))
	}
	if !f.syscallOK {
		bad = append(bad, "SYSCALL from guest user mode does not work: Linux guests cannot run 64-bit user space here")
	}
	if len(bad) > 0 {
		return Emulated, fmt.Sprintf("emulated KVM (PVM-like host): %s; %s", strings.Join(bad, "; "), nestedHint)
	}
	return Healthy, fmt.Sprintf("healthy: guest code runs natively (CPL0 %s, CPL3 %s per loop iteration) and SYSCALL from guest user mode works",
		fmtNS(f.cpl0NS), fmtNS(f.cpl3NS))
}

// fmtNS formats a duration in nanoseconds with a unit that keeps it short.
func fmtNS(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns >= 10:
		return fmt.Sprintf("%.0f ns", ns)
	default:
		return fmt.Sprintf("%.2f ns", ns)
	}
}
