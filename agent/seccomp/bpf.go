package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Classic BPF opcodes the compiler emits (linux/bpf_common.h, the values in
// golang.org/x/sys/unix). The kernel's seccomp checker accepts each of them.
const (
	opLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS   // A = *(u32 *)(data + k)
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K  // A &= k
	opJa     = unix.BPF_JMP | unix.BPF_JA                // pc += k
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K  // pc += (A == k) ? jt : jf
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K  // pc += (A > k) ? jt : jf
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K  // pc += (A >= k) ? jt : jf
	opJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K // pc += (A & k) ? jt : jf
	opRetK   = unix.BPF_RET | unix.BPF_K                 // return k
)

// Offsets in struct seccomp_data (linux/seccomp.h): int nr; __u32 arch;
// __u64 instruction_pointer; __u64 args[6]. Arguments are little-endian
// 64-bit words on x86, so the low half of args[i] comes first.
const (
	offNr             = 0
	offArch           = 4
	offArgs           = 16
	sizeofSeccompData = 64 // sizeof(struct seccomp_data)
)

// maxJump is the longest forward distance a conditional jump can encode
// (jt and jf are 8 bits); longer ones go through a trampoline.
const maxJump = 255

// label names the target of a jump before the instruction exists.
type label struct {
	at *insn
}

// insn is one instruction while the program is being built; jumps point at
// labels, and offsets are only computed by assemble.
type insn struct {
	code   uint16
	k      uint32
	jt, jf *label // conditional jumps
	to     *label // opJa
}

func (i *insn) conditional() bool {
	return i.code&0x07 == unix.BPF_JMP && i.code != opJa
}

// program collects instructions in order; all jumps go forward, because a
// label is only ever bound to an instruction emitted after the jump.
type program struct {
	insns   []*insn
	pending []*label // bound to the next emitted instruction
}

func (p *program) newLabel() *label { return &label{} }

// bind attaches l to the next instruction emitted.
func (p *program) bind(l *label) {
	p.pending = append(p.pending, l)
}

func (p *program) emit(i *insn) *insn {
	for _, l := range p.pending {
		l.at = i
	}
	p.pending = p.pending[:0]
	p.insns = append(p.insns, i)
	return i
}

// ld loads the 32-bit word at off of seccomp_data into A.
func (p *program) ld(off uint32) { p.emit(&insn{code: opLdAbsW, k: off}) }

func (p *program) and(k uint32) { p.emit(&insn{code: opAndK, k: k}) }

func (p *program) ret(k uint32) { p.emit(&insn{code: opRetK, k: k}) }

func (p *program) ja(to *label) { p.emit(&insn{code: opJa, to: to}) }

// jump emits a conditional jump; a nil target means the next instruction.
func (p *program) jump(code uint16, k uint32, jt, jf *label) {
	var next *label
	if jt == nil || jf == nil {
		next = p.newLabel()
		if jt == nil {
			jt = next
		}
		if jf == nil {
			jf = next
		}
	}
	p.emit(&insn{code: code, k: k, jt: jt, jf: jf})
	if next != nil {
		p.bind(next)
	}
}

// assemble resolves labels into offsets. A conditional jump further than
// maxJump is pointed at a trampoline placed right after it: a copy of the
// target when that is a return (one instruction either way, and faster),
// else an unconditional jump, whose offset has 32 bits. Inserting
// trampolines moves later code, so this repeats until nothing changes;
// each jump gets at most one trampoline per target, so it ends.
func (p *program) assemble() ([]unix.SockFilter, error) {
	if len(p.pending) != 0 {
		return nil, fmt.Errorf("seccomp: internal error: %d labels bound past the end of the program", len(p.pending))
	}
	insns := p.insns
	for {
		pos := make(map[*insn]int, len(insns))
		for i, in := range insns {
			pos[in] = i
		}
		target := func(l *label) (int, error) {
			if l == nil || l.at == nil {
				return 0, fmt.Errorf("seccomp: internal error: unbound label")
			}
			return pos[l.at], nil
		}
		out := make([]*insn, 0, len(insns))
		changed := false
		for i, in := range insns {
			out = append(out, in)
			if !in.conditional() {
				continue
			}
			for _, lp := range []**label{&in.jt, &in.jf} {
				t, err := target(*lp)
				if err != nil {
					return nil, err
				}
				if t-i-1 <= maxJump {
					continue
				}
				dst := (*lp).at
				var tr *insn
				if dst.code == opRetK {
					tr = &insn{code: opRetK, k: dst.k}
				} else {
					tr = &insn{code: opJa, to: *lp}
				}
				out = append(out, tr)
				*lp = &label{at: tr}
				changed = true
			}
		}
		insns = out
		if !changed {
			break
		}
	}

	pos := make(map[*insn]int, len(insns))
	for i, in := range insns {
		pos[in] = i
	}
	prog := make([]unix.SockFilter, len(insns))
	for i, in := range insns {
		f := unix.SockFilter{Code: in.code, K: in.k}
		off := func(l *label) (int, error) {
			if l == nil || l.at == nil {
				return 0, fmt.Errorf("seccomp: internal error: unbound label at instruction %d", i)
			}
			t, ok := pos[l.at]
			if !ok {
				return 0, fmt.Errorf("seccomp: internal error: label at instruction %d points outside the program", i)
			}
			d := t - i - 1
			if d < 0 {
				return 0, fmt.Errorf("seccomp: internal error: backward jump at instruction %d", i)
			}
			return d, nil
		}
		switch {
		case in.code == opJa:
			d, err := off(in.to)
			if err != nil {
				return nil, err
			}
			f.K = uint32(d)
		case in.conditional():
			dt, err := off(in.jt)
			if err != nil {
				return nil, err
			}
			df, err := off(in.jf)
			if err != nil {
				return nil, err
			}
			if dt > maxJump || df > maxJump {
				return nil, fmt.Errorf("seccomp: internal error: jump out of range at instruction %d", i)
			}
			f.Jt, f.Jf = uint8(dt), uint8(df)
		}
		prog[i] = f
	}
	return prog, nil
}
