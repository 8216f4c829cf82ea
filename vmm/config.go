package vmm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Defaults and limits.
const (
	DefaultMemMiB = 256
	DefaultCPUs   = 1
	MaxCPUs       = 32 // the guest kernel's NR_CPUS; the MP table holds far more
	MaxMemMiB     = 1 << 20
)

// Config describes one VM.
type Config struct {
	Kernel  string // ELF64 vmlinux or test guest (never a bzImage)
	Initrd  string // optional initramfs
	Cmdline string

	MemMiB int // 0: DefaultMemMiB
	CPUs   int // 0: DefaultCPUs

	Console io.Writer // serial output; nil discards it
	// ReadyMarker, when set, is a line the guest prints on the serial
	// console when its workload is ready (hull-agent's "hull-agent ready");
	// its first appearance is the timeline's EventReady.
	ReadyMarker string
	ConsoleIn   io.Reader // optional serial input

	// Disks are virtio-blk disks, in order (the guest's vda, vdb, ...);
	// Nets virtio-net devices on TAP interfaces after them (eth0, ...;
	// vmm/net.go); Shares virtio-9p host directories after those
	// (vmm/share.go); RNG adds a virtio-rng device after them all
	// (vmm/virtio.go).
	Disks  []Disk
	Nets   []Net
	Shares []Share
	RNG    bool
	// Vsock adds a virtio-vsock device with a Firecracker-style hybrid
	// host side (vmm/vsock.go); nil: none.
	Vsock *Vsock

	TestExitPort bool   // put the test exit device at port 0xf4
	KVMPath      string // "" means /dev/kvm
	// CheckHost, when set, runs after the guest is loaded and before KVM is
	// opened: a bad kernel or command line is reported first on any host,
	// and a host that cannot run the guest well is refused before any vCPU
	// runs (hull vm boot refuses emulating KVM hosts this way).
	CheckHost func(kvmPath string) error

	// Start is when the VMM process started, the timeline's zero; the zero
	// value means "when Run was called".
	Start time.Time
	// Log receives rare diagnostics (never one per exit); nil discards them.
	Log *slog.Logger
}

// ErrConfig is matched by every configuration error.
var ErrConfig = errors.New("invalid VM configuration")

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.MemMiB == 0 {
		out.MemMiB = DefaultMemMiB
	}
	if out.CPUs == 0 {
		out.CPUs = DefaultCPUs
	}
	switch {
	case out.Kernel == "":
		return out, fmt.Errorf("%w: no kernel given", ErrConfig)
	case out.MemMiB < 0 || out.MemMiB > MaxMemMiB:
		return out, fmt.Errorf("%w: memory %d MiB is outside 1..%d MiB", ErrConfig, out.MemMiB, MaxMemMiB)
	case out.CPUs < 1 || out.CPUs > MaxCPUs:
		return out, fmt.Errorf("%w: %d vCPUs is outside 1..%d", ErrConfig, out.CPUs, MaxCPUs)
	}
	if out.Console == nil {
		out.Console = io.Discard
	}
	if out.Start.IsZero() {
		out.Start = time.Now()
	}
	if out.Log == nil {
		out.Log = slog.New(slog.DiscardHandler)
	}
	return out, nil
}
