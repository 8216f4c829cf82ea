package seccomp

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// badArch is what a system call from an ABI the profile does not list
// gets. libseccomp's default is SCMP_ACT_KILL (the thread); hull kills the
// whole process, which is the same for the single-threaded process that
// execs and leaves no half-dead process behind for a multi-threaded one.
const badArch = action(unix.SECCOMP_RET_KILL_PROCESS)

var retENOSYS = action(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))

// Compile translates a seccomp profile into a classic BPF program for
// seccomp(SECCOMP_SET_MODE_FILTER) on an x86-64 kernel. A nil profile
// compiles to no program (nil, nil).
//
// The program, in order:
//
//  1. checks seccomp_data.arch: AUDIT_ARCH_X86_64 and, when listed,
//     AUDIT_ARCH_I386 go on; any other architecture is killed (the whole
//     process). On x86-64 a number with bit 30 set is an x32 call: it is
//     filtered with the x32 numbers when SCMP_ARCH_X32 is listed, killed
//     otherwise; the number -1 (a tracer skipping the call) gets the
//     default action.
//  2. dispatches on the number with a binary search over ranges of numbers
//     that share one outcome, so a 300-name allow list costs a few dozen
//     instructions and about ten comparisons per call.
//  3. for a system call with argument rules, tries its rules in profile
//     order and returns the first that matches; then the call's
//     unconditional rule, if any, else the default action. A rule with
//     arguments thus takes precedence over an unconditional one for the
//     same call, whatever their order.
//
// Semantics follow runc with libseccomp: names unknown on an architecture
// are ignored; entries whose action is the default action add nothing;
// several comparisons of the same argument in one entry are alternatives
// (each a rule of its own), comparisons of different arguments must all
// hold; 64-bit arguments are compared unsigned, as two 32-bit halves; the
// mask of SCMP_CMP_MASKED_EQ is value and the expected result valueTwo.
// Unless the default action is permissive (allow, log, trace) or already
// ENOSYS, numbers above the highest one the profile names on an ABI return
// ENOSYS there (runc's patch for system calls newer than the profile, so
// that libc falls back; runc applies it only to the architectures the
// profile lists, hull to every ABI the filter accepts).
//
// Size: ranges of numbers with one outcome share code, so a Docker-like
// profile (about 420 names on x86-64, x86 and x32) compiles to under 300
// instructions. Only profiles giving hundreds of system calls argument
// rules of their own can pass BPF_MAXINSNS (4096); they fail with
// ErrTooLarge.
//
// Limits: i386 socketcall(2) and ipc(2) are filtered as themselves, not by
// the operation they multiplex (libseccomp also filters those by the
// operation argument); SCMP_ACT_NOTIFY fails with ErrNotifyUnsupported.
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	if s == nil {
		return nil, nil
	}
	p, err := parseProfile(s)
	if err != nil {
		return nil, err
	}
	g := newGen(p)
	prog, err := g.generate()
	if err != nil {
		return nil, err
	}
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("%w: %d instructions, the kernel accepts %d", ErrTooLarge, len(prog), unix.BPF_MAXINSNS)
	}
	return prog, nil
}

// outcome is what a range of system call numbers leads to: a return, or
// the rules of one system call (blk).
type outcome struct {
	ret      action
	blk      *block
	retLabel *label // the shared return instruction, once targeted
}

// block holds the argument rules of a system call; identical rule sets
// (the same entry naming several calls, or x86-64 and x32) share one.
type block struct {
	wide  bool
	rules []rule
	fall  action // when no rule matches
	entry *label
}

type rule struct {
	conds []cond
	act   action
}

// span is a range of system call numbers, lo..hi inclusive (uint64 so that
// hi+1 never wraps).
type span struct {
	lo, hi uint64
	out    *outcome
}

// section is the code for one seccomp_data.arch value.
type section struct {
	auditArch uint32
	spans     []span
	start     *label
}

type gen struct {
	p      *profile
	prog   program
	rets   map[action]*outcome
	order  []action // ret outcomes in first-use order
	blocks map[string]*block
	blist  []*block
}

func newGen(p *profile) *gen {
	return &gen{p: p, rets: map[action]*outcome{}, blocks: map[string]*block{}}
}

func (g *gen) retOutcome(a action) *outcome {
	o, ok := g.rets[a]
	if !ok {
		o = &outcome{ret: a}
		g.rets[a] = o
	}
	return o
}

// numbered returns the outcome of every number the profile has a rule for
// on ABI a, and the highest number it names there (any action), if any.
func (g *gen) numbered(a *abi) (map[uint32]*outcome, uint32, bool) {
	type acc struct {
		conds  []rule
		uncond *action
	}
	byNr := map[uint32]*acc{}
	var maxNr uint32
	named := false
	for i := range g.p.entries {
		e := &g.p.entries[i]
		for _, name := range e.names {
			nr, ok := a.lookup(name)
			if !ok {
				continue
			}
			if !named || nr > maxNr {
				maxNr = nr
			}
			named = true
			if e.same {
				continue
			}
			r := byNr[nr]
			if r == nil {
				r = &acc{}
				byNr[nr] = r
			}
			for _, alt := range e.alts {
				if len(alt) == 0 {
					if r.uncond == nil {
						act := e.act
						r.uncond = &act
					}
					continue
				}
				r.conds = append(r.conds, rule{conds: alt, act: e.act})
			}
		}
	}
	out := make(map[uint32]*outcome, len(byNr))
	// In number order, so that blocks, and so the program, come out the
	// same every time.
	nrs := make([]uint32, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	for _, nr := range nrs {
		r := byNr[nr]
		fall := g.p.def
		if r.uncond != nil {
			fall = *r.uncond
		}
		if len(r.conds) == 0 {
			out[nr] = g.retOutcome(fall)
			continue
		}
		out[nr] = &outcome{blk: g.block(a.wide, r.conds, fall)}
	}
	return out, maxNr, named
}

func (g *gen) block(wide bool, rules []rule, fall action) *block {
	var key strings.Builder
	fmt.Fprintf(&key, "%v/%#x", wide, fall)
	for _, r := range rules {
		fmt.Fprintf(&key, "|%#x", r.act)
		for _, c := range r.conds {
			fmt.Fprintf(&key, ",%d%s%#x:%#x", c.arg, c.op, c.a, c.b)
		}
	}
	if b, ok := g.blocks[key.String()]; ok {
		return b
	}
	b := &block{wide: wide, rules: rules, fall: fall, entry: g.prog.newLabel()}
	g.blocks[key.String()] = b
	g.blist = append(g.blist, b)
	return b
}

// background returns the outcome of the numbers in lo..hi that no rule
// names: ENOSYS above the highest named number (when the profile asks for
// it), else the default action.
func (g *gen) background(lo, hi uint64, maxNr uint32, named bool) []span {
	def := g.retOutcome(g.p.def)
	if !g.p.enosys || !named || uint64(maxNr) >= hi {
		return []span{{lo, hi, def}}
	}
	if uint64(maxNr) < lo {
		return []span{{lo, hi, g.retOutcome(retENOSYS)}}
	}
	return []span{{lo, uint64(maxNr), def}, {uint64(maxNr) + 1, hi, g.retOutcome(retENOSYS)}}
}

// sections lays out the number space of each architecture value.
func (g *gen) sections() []*section {
	var x86_64, x32, i386 bool
	for _, a := range g.p.abis {
		switch a {
		case abiX86_64:
			x86_64 = true
		case abiX32:
			x32 = true
		case abiI386:
			i386 = true
		}
	}
	var secs []*section
	if x86_64 {
		points, maxNr, named := g.numbered(abiX86_64)
		bg := g.background(0, x32SyscallBit-1, maxNr, named)
		if x32 {
			xp, xmax, xnamed := g.numbered(abiX32)
			for nr, o := range xp {
				points[nr] = o
			}
			bg = append(bg, g.background(x32SyscallBit, nrSkip-1, xmax, xnamed)...)
		} else {
			bg = append(bg, span{x32SyscallBit, nrSkip - 1, g.retOutcome(badArch)})
		}
		bg = append(bg, span{nrSkip, nrSkip, g.retOutcome(g.p.def)})
		secs = append(secs, &section{auditArch: abiX86_64.auditArch, spans: overlay(bg, points)})
	}
	if i386 {
		points, maxNr, named := g.numbered(abiI386)
		bg := g.background(0, nrSkip-1, maxNr, named)
		bg = append(bg, span{nrSkip, nrSkip, g.retOutcome(g.p.def)})
		secs = append(secs, &section{auditArch: abiI386.auditArch, spans: overlay(bg, points)})
	}
	return secs
}

// overlay places single-number outcomes over background spans (sorted,
// contiguous, covering 0..2^32-1) and merges neighbours with the same
// outcome.
func overlay(bg []span, points map[uint32]*outcome) []span {
	nrs := make([]uint64, 0, len(points))
	for nr := range points {
		nrs = append(nrs, uint64(nr))
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	var out []span
	add := func(s span) {
		if n := len(out); n > 0 && out[n-1].out == s.out && out[n-1].hi+1 == s.lo {
			out[n-1].hi = s.hi
			return
		}
		out = append(out, s)
	}
	i := 0
	for _, b := range bg {
		lo := b.lo
		for i < len(nrs) && nrs[i] <= b.hi {
			nr := nrs[i]
			if nr > lo {
				add(span{lo, nr - 1, b.out})
			}
			add(span{nr, nr, points[uint32(nr)]})
			lo = nr + 1
			i++
		}
		if lo <= b.hi {
			add(span{lo, b.hi, b.out})
		}
	}
	return out
}

func (g *gen) generate() ([]unix.SockFilter, error) {
	secs := g.sections()
	p := &g.prog

	p.ld(offArch)
	for _, s := range secs {
		s.start = p.newLabel()
		p.jump(opJeqK, s.auditArch, s.start, nil)
	}
	p.ret(uint32(badArch))

	for _, s := range secs {
		p.bind(s.start)
		p.ld(offNr)
		if len(s.spans) == 1 {
			p.ja(g.target(s.spans[0].out))
			continue
		}
		g.tree(s.spans)
	}
	for _, b := range g.blist {
		g.emitBlock(b)
	}
	for _, a := range g.order {
		p.bind(g.rets[a].label())
		p.ret(uint32(a))
	}
	return p.assemble()
}

// label is where the outcome's code starts; a return's label is created on
// first use.
func (o *outcome) label() *label {
	if o.blk != nil {
		return o.blk.entry
	}
	if o.retLabel == nil {
		o.retLabel = &label{}
	}
	return o.retLabel
}

// target returns the label of an outcome, recording which returns the
// tree uses so that generate emits each once, at the end.
func (g *gen) target(o *outcome) *label {
	if o.blk == nil && o.retLabel == nil {
		g.order = append(g.order, o.ret)
	}
	return o.label()
}

// tree emits a binary search over spans (at least two): "A >= first
// number of the upper half" goes right, else left. A half that is one span
// is not code but a jump straight to its outcome. The caller's pending
// labels bind to the first comparison.
func (g *gen) tree(spans []span) {
	p := &g.prog
	mid := len(spans) / 2
	j := &insn{code: opJgeK, k: uint32(spans[mid].lo)}
	p.emit(j)
	j.jf = g.side(spans[:mid])
	j.jt = g.side(spans[mid:])
}

func (g *gen) side(spans []span) *label {
	if len(spans) == 1 {
		return g.target(spans[0].out)
	}
	l := g.prog.newLabel()
	g.prog.bind(l)
	g.tree(spans)
	return l
}

// emitBlock emits the rules of one system call: each rule's comparisons
// in turn, a failed one going to the next rule, then the rule's return;
// after the last rule the fall-through return.
func (g *gen) emitBlock(b *block) {
	p := &g.prog
	p.bind(b.entry)
	for _, r := range b.rules {
		next := p.newLabel()
		for _, c := range r.conds {
			pass := p.newLabel()
			g.cond(c, b.wide, pass, next)
			p.bind(pass)
		}
		p.ret(uint32(r.act))
		p.bind(next)
	}
	p.ret(uint32(b.fall))
}

// cond emits one comparison of argument c.arg, going to pass or fail.
// A 64-bit comparison looks at the high halves first: for the orderings
// they decide unless equal, and only then do the low halves count. On a
// 32-bit ABI only the low halves are compared.
func (g *gen) cond(c cond, wide bool, pass, fail *label) {
	p := &g.prog
	lo := uint32(offArgs + 8*c.arg)
	hi := lo + 4
	val, mask := c.a, uint64(0)
	if c.op == specs.OpMaskedEqual {
		val, mask = c.b, c.a
	}
	vlo, vhi := uint32(val), uint32(val>>32)
	mlo, mhi := uint32(mask), uint32(mask>>32)

	if wide {
		p.ld(hi)
		switch c.op {
		case specs.OpEqualTo:
			p.jump(opJeqK, vhi, nil, fail)
		case specs.OpNotEqual:
			p.jump(opJeqK, vhi, nil, pass)
		case specs.OpMaskedEqual:
			p.and(mhi)
			p.jump(opJeqK, vhi, nil, fail)
		case specs.OpGreaterThan, specs.OpGreaterEqual:
			p.jump(opJgtK, vhi, pass, nil)
			p.jump(opJeqK, vhi, nil, fail)
		case specs.OpLessThan, specs.OpLessEqual:
			p.jump(opJgtK, vhi, fail, nil)
			p.jump(opJeqK, vhi, nil, pass)
		}
	}
	p.ld(lo)
	switch c.op {
	case specs.OpEqualTo:
		p.jump(opJeqK, vlo, pass, fail)
	case specs.OpNotEqual:
		p.jump(opJeqK, vlo, fail, pass)
	case specs.OpMaskedEqual:
		p.and(mlo)
		p.jump(opJeqK, vlo, pass, fail)
	case specs.OpGreaterThan:
		p.jump(opJgtK, vlo, pass, fail)
	case specs.OpGreaterEqual:
		p.jump(opJgeK, vlo, pass, fail)
	case specs.OpLessThan:
		p.jump(opJgeK, vlo, fail, pass)
	case specs.OpLessEqual:
		p.jump(opJgtK, vlo, fail, pass)
	}
}
