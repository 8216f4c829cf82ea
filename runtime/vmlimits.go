package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// AnnotationVMBootTimeout bounds how long the vm sandbox waits for the
// guest's agent to answer (a Go duration, e.g. "30s"; default
// BootTimeout). A guest that has not answered by then fails the create,
// and its VM is stopped.
const AnnotationVMBootTimeout = "hull.vm.boot_timeout"

// MaxBootTimeout is the largest hull.vm.boot_timeout accepted.
const MaxBootTimeout = time.Hour

// VMLimits is the microVM a vm-sandbox container gets, from its config.
type VMLimits struct {
	MemMiB, CPUs int
	BootTimeout  time.Duration
}

// VMLimitsOf checks what config.json asks of the vm sandbox before
// anything starts: the VM's size (VMSize) against the host's memory, and
// the boot timeout. Errors match ErrBadConfig.
func VMLimitsOf(s *specs.Spec) (VMLimits, error) {
	var l VMLimits
	var err error
	if l.MemMiB, l.CPUs, err = VMSize(s); err != nil {
		return l, err
	}
	if err := checkHostMemory(l.MemMiB, hostMemMiB); err != nil {
		return l, err
	}
	l.BootTimeout, err = vmBootTimeout(s)
	return l, err
}

func vmBootTimeout(s *specs.Spec) (time.Duration, error) {
	v, ok := s.Annotations[AnnotationVMBootTimeout]
	if !ok {
		return BootTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > MaxBootTimeout {
		return 0, fmt.Errorf("%w: annotation %s=%q: want a duration such as 30s, more than 0 and at most %v",
			ErrBadConfig, AnnotationVMBootTimeout, v, MaxBootTimeout)
	}
	return d, nil
}

// checkHostMemory refuses a VM larger than the host's memory (MemTotal:
// guest RAM is mapped lazily, so what is free now is no limit).
func checkHostMemory(mib int, host func() (uint64, bool)) error {
	total, ok := host()
	if !ok {
		return nil // cannot tell; the VMM's mmap will say
	}
	if mib < 0 || uint64(mib) > total {
		return fmt.Errorf("%w: the VM would need %d MiB of memory (annotation %s, or linux.resources.memory.limit plus %d MiB), the host has %d MiB",
			ErrBadConfig, mib, AnnotationVMMemory, VMOverheadMiB, total)
	}
	return nil
}

// hostMemMiB is /proc/meminfo's MemTotal in MiB.
func hostMemMiB() (uint64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb >> 10, err == nil
		}
	}
	return 0, false
}
