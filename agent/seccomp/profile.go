package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxArgs: system calls have at most six arguments (seccomp_data.args).
const maxArgs = 6

// action is a filter return value: SECCOMP_RET_* with its data bits.
type action uint32

// cond is one argument comparison of a rule.
type cond struct {
	arg uint // 0..5
	op  specs.LinuxSeccompOperator
	// a is the value, or the mask for SCMP_CMP_MASKED_EQ; b is the value
	// compared with (arg & a) for SCMP_CMP_MASKED_EQ.
	a, b uint64
}

// entry is one element of syscalls[], validated.
type entry struct {
	names []string
	act   action
	// same: the action equals the default action, so the entry adds no
	// rule (libseccomp refuses such rules; runc skips them). Its names
	// still count for the -ENOSYS stub, as in runc.
	same bool
	// alts are alternatives, any of which matching selects act; each is a
	// list of comparisons that must all hold. One empty alternative means
	// the entry is unconditional.
	alts [][]cond
}

// profile is a validated LinuxSeccomp.
type profile struct {
	def     action
	abis    []*abi
	entries []entry
	// enosys: system calls newer than every one the profile names get
	// ERRNO(ENOSYS) instead of the default action (runc's patchbpf), so
	// that libc falls back to older calls (clone3 → clone) rather than
	// failing on EPERM. Only when the default action is not permissive
	// and not already ENOSYS.
	enosys bool
}

func parseProfile(s *specs.LinuxSeccomp) (*profile, error) {
	def, err := parseAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	p := &profile{def: def}
	if p.abis, err = abis(s.Architectures); err != nil {
		return nil, err
	}
	if _, err := filterFlags(s.Flags); err != nil {
		return nil, err
	}
	for i, sc := range s.Syscalls {
		act, err := parseAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d] %v: %w", i, sc.Names, err)
		}
		for _, n := range sc.Names {
			if n == "" {
				return nil, fmt.Errorf("%w: syscalls[%d]: empty system call name", ErrInvalid, i)
			}
		}
		conds := make([]cond, 0, len(sc.Args))
		var perArg [maxArgs]int
		shared := false
		for j, a := range sc.Args {
			if a.Index >= maxArgs {
				return nil, fmt.Errorf("%w: syscalls[%d].args[%d]: index %d, system calls have %d arguments", ErrInvalid, i, j, a.Index, maxArgs)
			}
			switch a.Op {
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
				specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
			default:
				return nil, fmt.Errorf("%w: syscalls[%d].args[%d]: unknown operator %q", ErrInvalid, i, j, a.Op)
			}
			perArg[a.Index]++
			if perArg[a.Index] > 1 {
				shared = true
			}
			conds = append(conds, cond{arg: a.Index, op: a.Op, a: a.Value, b: a.ValueTwo})
		}
		var alts [][]cond
		if shared {
			// Two comparisons of the same argument: like runc, each
			// becomes a rule of its own, so they are alternatives (OR),
			// the form profiles use to list several allowed values.
			for _, c := range conds {
				alts = append(alts, []cond{c})
			}
		} else {
			alts = [][]cond{conds}
		}
		p.entries = append(p.entries, entry{names: sc.Names, act: act, same: act == def, alts: alts})
	}
	p.enosys = !permissive(def) && def != action(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	return p, nil
}

// permissive actions let the call run; runc adds no -ENOSYS stub for them.
func permissive(a action) bool {
	switch uint32(a) & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_TRACE:
		return true
	}
	return false
}

// parseAction maps an OCI action to its filter return value. errnoRet is
// the errno for ERRNO and the message for TRACE (default EPERM for both,
// as in runc); the runtime-spec requires an error when another action is
// given one.
func parseAction(a specs.LinuxSeccompAction, errnoRet *uint) (action, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if a != specs.ActErrno && a != specs.ActTrace {
			return 0, fmt.Errorf("%w: errnoRet is only valid with %s and %s, not %s", ErrInvalid, specs.ActErrno, specs.ActTrace, a)
		}
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("%w: errnoRet %d does not fit in 16 bits", ErrInvalid, *errnoRet)
		}
		data = uint32(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return action(unix.SECCOMP_RET_KILL_THREAD), nil
	case specs.ActKillProcess:
		return action(unix.SECCOMP_RET_KILL_PROCESS), nil
	case specs.ActTrap:
		return action(unix.SECCOMP_RET_TRAP), nil
	case specs.ActErrno:
		return action(unix.SECCOMP_RET_ERRNO | data), nil
	case specs.ActTrace:
		return action(unix.SECCOMP_RET_TRACE | data), nil
	case specs.ActAllow:
		return action(unix.SECCOMP_RET_ALLOW), nil
	case specs.ActLog:
		return action(unix.SECCOMP_RET_LOG), nil
	case specs.ActNotify:
		return 0, ErrNotifyUnsupported
	case "":
		return 0, fmt.Errorf("%w: missing action", ErrInvalid)
	}
	return 0, fmt.Errorf("%w: unknown action %q", ErrInvalid, a)
}

// filterFlags maps the profile's flags to SECCOMP_FILTER_FLAG_* bits.
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only changes how a notifying
// filter waits, and hull has none, so it is accepted and dropped.
func filterFlags(flags []specs.LinuxSeccompFlag) (uintptr, error) {
	var bits uintptr
	for _, f := range flags {
		switch f {
		case flagTSYNC:
			bits |= unix.SECCOMP_FILTER_FLAG_TSYNC
		case specs.LinuxSeccompFlagLog:
			bits |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			bits |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
		default:
			return 0, fmt.Errorf("%w: unknown flag %q", ErrInvalid, f)
		}
	}
	return bits, nil
}

// flagTSYNC is listed by the runtime-spec but has no constant in specs-go.
const flagTSYNC specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"
