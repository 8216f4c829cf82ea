package container

import (
	"fmt"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rlimitNames maps process.rlimits[].type to resources (getrlimit(2)).
var rlimitNames = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

type rlimit struct {
	name     string
	resource int
	soft     uint64
	hard     uint64
}

// parseRlimits checks process.rlimits: known types, no duplicates,
// soft <= hard.
func parseRlimits(list []specs.POSIXRlimit) ([]rlimit, error) {
	seen := map[string]bool{}
	var out []rlimit
	for _, l := range list {
		r, ok := rlimitNames[l.Type]
		if !ok {
			return nil, fmt.Errorf("process.rlimits: unknown rlimit type %q", l.Type)
		}
		if seen[l.Type] {
			return nil, fmt.Errorf("process.rlimits: %s given twice", l.Type)
		}
		seen[l.Type] = true
		if l.Soft > l.Hard {
			return nil, fmt.Errorf("process.rlimits: %s soft limit %d is above the hard limit %d", l.Type, l.Soft, l.Hard)
		}
		out = append(out, rlimit{l.Type, r, l.Soft, l.Hard})
	}
	return out, nil
}

// setRlimits applies the limits to this process. syscall.Setrlimit, not
// prlimit: for RLIMIT_NOFILE it also stops Go's exec from restoring the
// soft limit Go raised at start-up.
func setRlimits(ls []rlimit) error {
	for _, l := range ls {
		if err := syscall.Setrlimit(l.resource, &syscall.Rlimit{Cur: l.soft, Max: l.hard}); err != nil {
			return fmt.Errorf("setrlimit %s (soft %d, hard %d): %w", l.name, l.soft, l.hard, err)
		}
	}
	return nil
}

// ioPriorityValue encodes process.ioPriority for ioprio_set(2):
// class << 13 | level.
func ioPriorityValue(p *specs.LinuxIOPriority) (uintptr, error) {
	const classShift = 13
	classes := map[specs.IOPriorityClass]uintptr{
		specs.IOPRIO_CLASS_RT:   1,
		specs.IOPRIO_CLASS_BE:   2,
		specs.IOPRIO_CLASS_IDLE: 3,
	}
	c, ok := classes[p.Class]
	if !ok {
		return 0, fmt.Errorf("process.ioPriority: unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, fmt.Errorf("process.ioPriority: priority %d is outside 0..7", p.Priority)
	}
	return c<<classShift | uintptr(p.Priority), nil
}

// setIOPriority sets the calling thread's I/O priority (the thread that
// execs, so the container process gets it).
func setIOPriority(p *specs.LinuxIOPriority) error {
	v, err := ioPriorityValue(p)
	if err != nil {
		return err
	}
	const ioprioWhoProcess = 1
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, v); e != 0 {
		return fmt.Errorf("ioprio_set %s %d: %w", p.Class, p.Priority, e)
	}
	return nil
}

// personalityValue encodes linux.personality (only the domain: the spec
// defines no flags yet).
func personalityValue(p *specs.LinuxPersonality) (uintptr, error) {
	if len(p.Flags) > 0 {
		return 0, unsupported("linux.personality.flags %v", p.Flags)
	}
	switch p.Domain {
	case specs.PerLinux:
		return 0x0000, nil // PER_LINUX
	case specs.PerLinux32:
		return 0x0008, nil // PER_LINUX32
	}
	return 0, fmt.Errorf("linux.personality: unknown domain %q", p.Domain)
}

func setPersonality(p *specs.LinuxPersonality) error {
	v, err := personalityValue(p)
	if err != nil {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, v, 0, 0); e != 0 {
		return fmt.Errorf("personality %s: %w", p.Domain, e)
	}
	return nil
}
