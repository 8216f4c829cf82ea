package seccomp

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompData mirrors struct seccomp_data (linux/seccomp.h), 64 bytes.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [maxArgs]uint64
}

func (d *seccompData) bytes() []byte {
	b := make([]byte, sizeofSeccompData)
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[offArgs+8*i:], a)
	}
	return b
}

func (d seccompData) String() string {
	return fmt.Sprintf("{arch %#x nr %#x args %#x}", d.arch, d.nr, d.args)
}

// verify checks what the kernel's classic-BPF and seccomp checkers check
// for the instructions the compiler emits: size, known opcodes, aligned
// loads inside seccomp_data, every jump landing inside the program, and a
// return as the last instruction.
func verify(prog []unix.SockFilter) error {
	n := len(prog)
	if n == 0 || n > unix.BPF_MAXINSNS {
		return fmt.Errorf("program has %d instructions (1..%d allowed)", n, unix.BPF_MAXINSNS)
	}
	for pc, in := range prog {
		switch in.Code {
		case opLdAbsW:
			if in.K%4 != 0 || in.K+4 > sizeofSeccompData {
				return fmt.Errorf("%d: load at offset %d outside seccomp_data", pc, in.K)
			}
		case opAndK, opRetK:
		case opJa:
			if uint64(pc)+1+uint64(in.K) >= uint64(n) {
				return fmt.Errorf("%d: ja %d lands outside the program", pc, in.K)
			}
		case opJeqK, opJgtK, opJgeK, opJsetK:
			if pc+1+int(in.Jt) >= n || pc+1+int(in.Jf) >= n {
				return fmt.Errorf("%d: jump %d/%d lands outside the program", pc, in.Jt, in.Jf)
			}
		default:
			return fmt.Errorf("%d: opcode %#x not allowed", pc, in.Code)
		}
	}
	if prog[n-1].Code != opRetK {
		return fmt.Errorf("last instruction %#x is not a return", prog[n-1].Code)
	}
	return nil
}

// run interprets prog on d like the kernel would and returns the filter's
// result and the number of instructions executed.
func run(prog []unix.SockFilter, d seccompData) (uint32, int, error) {
	data := d.bytes()
	var a uint32
	steps := 0
	for pc := 0; ; pc++ {
		if pc >= len(prog) {
			return 0, steps, fmt.Errorf("fell off the end of the program")
		}
		in := prog[pc]
		steps++
		switch in.Code {
		case opLdAbsW:
			if in.K+4 > uint32(len(data)) {
				return 0, steps, fmt.Errorf("%d: load out of range", pc)
			}
			a = binary.LittleEndian.Uint32(data[in.K:])
		case opAndK:
			a &= in.K
		case opJa:
			pc += int(in.K)
		case opJeqK, opJgtK, opJgeK, opJsetK:
			var taken bool
			switch in.Code {
			case opJeqK:
				taken = a == in.K
			case opJgtK:
				taken = a > in.K
			case opJgeK:
				taken = a >= in.K
			case opJsetK:
				taken = a&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case opRetK:
			return in.K, steps, nil
		default:
			return 0, steps, fmt.Errorf("%d: unknown opcode %#x", pc, in.Code)
		}
	}
}

// reference evaluates a profile directly on d, without BPF: the meaning
// Compile documents, written as plainly as possible, for the compiled
// program to be compared against.
func reference(s *specs.LinuxSeccomp, d seccompData) (uint32, error) {
	def, err := parseAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return 0, err
	}
	listed := map[specs.Arch]bool{}
	for _, a := range s.Architectures {
		listed[a] = true
	}
	var a *abi
	switch d.arch {
	case unix.AUDIT_ARCH_X86_64:
		switch {
		case d.nr == 0xffffffff:
			return uint32(def), nil
		case d.nr&0x40000000 != 0:
			if !listed[specs.ArchX32] {
				return unix.SECCOMP_RET_KILL_PROCESS, nil
			}
			a = abiX32
		default:
			a = abiX86_64
		}
	case unix.AUDIT_ARCH_I386:
		if !listed[specs.ArchX86] {
			return unix.SECCOMP_RET_KILL_PROCESS, nil
		}
		if d.nr == 0xffffffff {
			return uint32(def), nil
		}
		a = abiI386
	default:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	}

	var maxNr uint32
	named := false
	var condAct, uncondAct *uint32
	for _, sc := range s.Syscalls {
		act, err := parseAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return 0, err
		}
		mine := false
		for _, n := range sc.Names {
			nr, ok := a.lookup(n)
			if !ok {
				continue
			}
			if !named || nr > maxNr {
				maxNr = nr
			}
			named = true
			if nr == d.nr {
				mine = true
			}
		}
		if !mine || act == def {
			continue
		}
		v := uint32(act)
		if len(sc.Args) == 0 {
			if uncondAct == nil {
				uncondAct = &v
			}
			continue
		}
		count := map[uint]int{}
		sameArg := false
		for _, arg := range sc.Args {
			count[arg.Index]++
			if count[arg.Index] > 1 {
				sameArg = true
			}
		}
		allOK, anyOK := true, false
		for _, arg := range sc.Args {
			if argMatches(arg, d, a.wide) {
				anyOK = true
			} else {
				allOK = false
			}
		}
		if (sameArg && anyOK) || (!sameArg && allOK) {
			if condAct == nil {
				condAct = &v
			}
		}
	}
	switch {
	case condAct != nil:
		return *condAct, nil
	case uncondAct != nil:
		return *uncondAct, nil
	}
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	defAction := uint32(def) & unix.SECCOMP_RET_ACTION_FULL
	permissive := defAction == unix.SECCOMP_RET_ALLOW || defAction == unix.SECCOMP_RET_LOG || defAction == unix.SECCOMP_RET_TRACE
	if !permissive && uint32(def) != enosys && named && d.nr > maxNr {
		return enosys, nil
	}
	return uint32(def), nil
}

func argMatches(arg specs.LinuxSeccompArg, d seccompData, wide bool) bool {
	v, x, y := d.args[arg.Index], arg.Value, arg.ValueTwo
	if !wide {
		v, x, y = uint64(uint32(v)), uint64(uint32(x)), uint64(uint32(y))
	}
	switch arg.Op {
	case specs.OpNotEqual:
		return v != x
	case specs.OpLessThan:
		return v < x
	case specs.OpLessEqual:
		return v <= x
	case specs.OpEqualTo:
		return v == x
	case specs.OpGreaterEqual:
		return v >= x
	case specs.OpGreaterThan:
		return v > x
	case specs.OpMaskedEqual:
		return v&x == y
	}
	panic("unknown operator " + arg.Op)
}
