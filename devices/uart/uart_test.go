package uart

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/hullvm/hull/devices/devicestest"
)

// step is one action of a register test: a write, a read checked against a
// value, input from the host, or a check of the interrupt count or output.
type step struct {
	kind byte // 'w', 'r', 'i' (input), 'n' (Trigger count), 'o' (output so far)
	off  uint64
	v    byte
	s    string
}

func w(off uint64, v byte) step { return step{kind: 'w', off: off, v: v} }
func r(off uint64, v byte) step { return step{kind: 'r', off: off, v: v} }
func in(s string) step          { return step{kind: 'i', s: s} }
func irqs(n int) step           { return step{kind: 'n', v: byte(n)} }
func out(s string) step         { return step{kind: 'o', s: s} }

type env struct {
	u   *UART
	irq *devicestest.Trigger
	out *bytes.Buffer
}

func newEnv() *env {
	e := &env{irq: &devicestest.Trigger{}, out: &bytes.Buffer{}}
	e.u = New(e.irq, e.out)
	return e
}

func (e *env) write(off uint64, v byte) { e.u.Write(off, []byte{v}) }

func (e *env) read(off uint64) byte {
	b := []byte{0x5a}
	e.u.Read(off, b)
	return b[0]
}

func (e *env) run(t *testing.T, steps []step) {
	t.Helper()
	for i, s := range steps {
		switch s.kind {
		case 'w':
			e.write(s.off, s.v)
		case 'r':
			if got := e.read(s.off); got != s.v {
				t.Fatalf("step %d: read %s = %#02x, want %#02x", i, regName(s.off), got, s.v)
			}
		case 'i':
			e.u.Input([]byte(s.s))
		case 'n':
			if got := e.irq.Count(); got != uint64(s.v) {
				t.Fatalf("step %d: %d interrupts, want %d", i, got, s.v)
			}
		case 'o':
			if got := e.out.String(); got != s.s {
				t.Fatalf("step %d: output %q, want %q", i, got, s.s)
			}
		}
	}
}

func regName(off uint64) string {
	if off < Size {
		return [...]string{"RBR", "IER", "IIR", "LCR", "MCR", "LSR", "MSR", "SCR"}[off]
	}
	return fmt.Sprintf("%#x", off)
}

// Register behaviour against the PC16550D datasheet.
func TestRegisters(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"reset state", []step{
			r(regIER, 0), r(regIIR, iirNone), r(regLCR, 0), r(regMCR, 0),
			r(regLSR, lsrTHRE|lsrTEMT), r(regMSR, msrDCD|msrDSR|msrCTS), r(regSCR, 0), r(regRBR, 0),
			w(regLCR, lcrDLAB), r(regDLL, defaultDivisor), r(regDLM, 0), irqs(0),
		}},
		{"scratch", []step{w(regSCR, 0xa5), r(regSCR, 0xa5), w(regSCR, 0x5a), r(regSCR, 0x5a)}},
		{"DLAB latches divisor", []step{
			w(regIER, ierERBFI),
			w(regLCR, lcrDLAB|0x03), w(regDLL, 0x01), w(regDLM, 0x02),
			r(regDLL, 0x01), r(regDLM, 0x02), r(regLCR, lcrDLAB|0x03),
			in("x"), r(regDLL, 0x01), // RBR is hidden while DLAB is set
			w(regLCR, 0x03), r(regIER, ierERBFI), r(regRBR, 'x'),
			w(regLCR, lcrDLAB), r(regDLL, 0x01), r(regDLM, 0x02),
			w(regTHR, 'y'), out(""), // a DLL write, not output
		}},
		{"IIR and FCR ignore DLAB", []step{
			w(regLCR, 0xbf), w(regFCR, fcrEnable), r(regIIR, iirFIFOs|iirNone), w(regLCR, 0), r(regIIR, iirFIFOs|iirNone),
		}},
		{"IER keeps bits 0-3", []step{w(regIER, 0xf0), r(regIER, 0), w(regIER, 0xff), r(regIER, 0x0f)}},
		{"MCR keeps bits 0-4", []step{w(regMCR, 0xff), r(regMCR, 0x1f), w(regMCR, 0x0b), r(regMCR, 0x0b)}},
		{"LCR keeps all bits", []step{w(regLCR, 0x7f), r(regLCR, 0x7f)}},
		{"transmit", []step{w(regTHR, 'h'), w(regTHR, 'i'), out("hi"), r(regLSR, lsrTHRE|lsrTEMT), irqs(0)}},
		{"THRE interrupt on enable, cleared by IIR read", []step{
			w(regIER, ierETBEI), irqs(1), r(regIIR, iirTHRE), r(regIIR, iirNone), irqs(1),
		}},
		{"THRE interrupt after each THR write", []step{
			w(regIER, ierETBEI), r(regIIR, iirTHRE),
			w(regTHR, 'a'), irqs(2), w(regTHR, 'b'), irqs(3), r(regIIR, iirTHRE), r(regIIR, iirNone), out("ab"),
		}},
		{"THRE re-raised on each ETBEI rising edge only", []step{
			w(regIER, ierETBEI), irqs(1), w(regIER, ierETBEI), irqs(1), r(regIIR, iirTHRE),
			w(regIER, ierETBEI), irqs(1), r(regIIR, iirNone), // no edge: nothing new
			w(regIER, 0), r(regIIR, iirNone), w(regIER, ierETBEI), irqs(2), r(regIIR, iirTHRE),
		}},
		{"disabling ETBEI drops THRE", []step{w(regIER, ierETBEI), w(regIER, 0), r(regIIR, iirNone), irqs(1)}},
		{"THR write without ETBEI raises nothing", []step{w(regTHR, 'a'), irqs(0), r(regIIR, iirNone)}},
		{"receive, polled", []step{
			in("ab"), irqs(0), r(regLSR, lsrTHRE|lsrTEMT|lsrDR), r(regRBR, 'a'),
			r(regLSR, lsrTHRE|lsrTEMT|lsrDR), r(regRBR, 'b'), r(regLSR, lsrTHRE|lsrTEMT), r(regRBR, 0),
		}},
		{"RX interrupt", []step{
			w(regIER, ierERBFI), irqs(0), in("x"), irqs(1), r(regIIR, iirRDA), r(regIIR, iirRDA),
			in("y"), irqs(2), r(regRBR, 'x'), r(regIIR, iirRDA), r(regRBR, 'y'), r(regIIR, iirNone), irqs(2),
			in(""), irqs(2),
		}},
		{"enabling ERBFI with data queued raises", []step{in("x"), irqs(0), w(regIER, ierERBFI), irqs(1), r(regIIR, iirRDA)}},
		{"RX has priority over THRE", []step{
			w(regIER, ierERBFI|ierETBEI), irqs(1), in("z"), irqs(2),
			r(regIIR, iirRDA), r(regIIR, iirRDA), // THRE stays pending behind RDA
			r(regRBR, 'z'), r(regIIR, iirTHRE), r(regIIR, iirNone),
			w(regTHR, '!'), irqs(3), in("q"), irqs(4), r(regIIR, iirRDA),
		}},
		{"FIFO bits", []step{
			r(regIIR, iirNone), w(regFCR, fcrEnable), r(regIIR, iirFIFOs|iirNone),
			w(regFCR, fcrEnable|0xc0), r(regIIR, iirFIFOs|iirNone),
			w(regIER, ierETBEI), r(regIIR, iirFIFOs|iirTHRE), w(regFCR, 0), r(regIIR, iirNone),
		}},
		{"FCR clears RX", []step{
			w(regFCR, fcrEnable), in("abc"), w(regFCR, fcrEnable|fcrClearRX|fcrClearTX),
			r(regLSR, lsrTHRE|lsrTEMT), in("d"), w(regFCR, fcrEnable), r(regRBR, 'd'), // no clear
			in("e"), w(regFCR, 0), r(regLSR, lsrTHRE|lsrTEMT), // toggling FIFO_EN clears
		}},
		{"loopback echoes THR into RBR", []step{
			w(regMCR, mcrLOOP), w(regTHR, 'L'), out(""), r(regLSR, lsrTHRE|lsrTEMT|lsrDR), r(regRBR, 'L'),
			w(regMCR, 0), w(regTHR, 'o'), out("o"), r(regLSR, lsrTHRE|lsrTEMT),
		}},
		{"loopback RX and THRE interrupts", []step{
			w(regIER, ierERBFI|ierETBEI), r(regIIR, iirTHRE), irqs(1),
			w(regMCR, mcrLOOP), w(regTHR, 'x'), irqs(2), r(regIIR, iirRDA), r(regRBR, 'x'), r(regIIR, iirTHRE),
		}},
		{"loopback MSR mirrors MCR", []step{
			w(regMCR, mcrLOOP), r(regMSR, msrDDCD|msrDDSR|msrDCTS), r(regMSR, 0),
			w(regMCR, mcrLOOP|mcrRTS|mcrOUT2), r(regMSR, msrCTS|msrDCD|msrDCTS|msrDDCD), r(regMSR, msrCTS|msrDCD),
			w(regMCR, mcrLOOP|mcrDTR|mcrOUT1), r(regMSR, msrDSR|msrRI|msrDCTS|msrDDSR|msrDDCD),
			w(regMCR, mcrLOOP|mcrDTR), r(regMSR, msrDSR|msrTERI), // RI's trailing edge
			w(regMCR, mcrLOOP|mcrDTR|mcrOUT1), r(regMSR, msrDSR|msrRI), // its leading edge is no delta
			w(regMCR, 0), r(regMSR, msrDCD|msrDSR|msrCTS|msrTERI|msrDCTS|msrDDCD),
		}},
		{"modem status interrupt", []step{
			w(regIER, ierEDSSI), irqs(0), w(regMCR, mcrLOOP|mcrDTR|mcrRTS|mcrOUT2), r(regIIR, iirNone),
			w(regMCR, mcrLOOP), irqs(1), r(regIIR, iirMS), r(regIIR, iirMS),
			r(regMSR, msrDCTS|msrDDSR|msrDDCD), r(regIIR, iirNone),
		}},
		{"modem status has the lowest priority", []step{
			w(regIER, ierEDSSI|ierETBEI), w(regMCR, mcrLOOP), r(regIIR, iirTHRE), r(regIIR, iirMS),
		}},
		{"LSR and MSR are read-only", []step{
			w(regLSR, 0xff), w(regMSR, 0x00), r(regLSR, lsrTHRE|lsrTEMT), r(regMSR, msrDCD|msrDSR|msrCTS),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { newEnv().run(t, tt.steps) })
	}
}

func TestOverrun(t *testing.T) {
	e := newEnv()
	e.write(regIER, ierERBFI|ierELSI)
	e.u.Input(bytes.Repeat([]byte{'a'}, RxQueueSize-1))
	e.u.Input([]byte("bcde")) // "b" fits, "cde" is dropped
	e.run(t, []step{
		irqs(2),
		r(regIIR, iirRLS), // line status first
		r(regLSR, lsrTHRE|lsrTEMT|lsrDR|lsrOE),
		r(regLSR, lsrTHRE|lsrTEMT|lsrDR), // OE cleared by reading
		r(regIIR, iirRDA),
	})
	for i := 0; i < RxQueueSize-1; i++ {
		if b := e.read(regRBR); b != 'a' {
			t.Fatalf("byte %d = %q", i, b)
		}
	}
	e.run(t, []step{r(regRBR, 'b'), r(regLSR, lsrTHRE|lsrTEMT), r(regIIR, iirNone)})
	s := e.u.Stats()
	if s.RxBytes != RxQueueSize || s.RxDropped != 3 {
		t.Fatalf("Stats = %+v, want RxBytes %d RxDropped 3", s, RxQueueSize)
	}
	// The queue wraps around correctly after being drained.
	e.u.Input([]byte("wrap"))
	e.run(t, []step{r(regRBR, 'w'), r(regRBR, 'r'), r(regRBR, 'a'), r(regRBR, 'p'), r(regRBR, 0)})
}

func TestRxCleared(t *testing.T) {
	e := newEnv()
	e.u.Input([]byte("abc"))
	e.write(regFCR, fcrEnable) // toggle: clears
	if s := e.u.Stats(); s.RxCleared != 3 {
		t.Fatalf("RxCleared = %d", s.RxCleared)
	}
}

func TestBadAccesses(t *testing.T) {
	e := newEnv()
	e.write(regSCR, 0x42)
	n := 0
	for _, size := range []int{0, 2, 3, 4, 8, 9, 4096} {
		data := bytes.Repeat([]byte{0x11}, size)
		e.u.Read(regSCR, data)
		if !bytes.Equal(data, bytes.Repeat([]byte{0xff}, size)) {
			t.Errorf("%d-byte read: %x, want 0xff bytes", size, data[:min(size, 16)])
		}
		e.u.Write(regTHR, bytes.Repeat([]byte{'x'}, size))
		n += 2
	}
	for _, off := range []uint64{Size, 9, 0x100, math.MaxUint64} {
		b := []byte{0}
		e.u.Read(off, b)
		if b[0] != 0xff {
			t.Errorf("read at %#x = %#x", off, b[0])
		}
		e.u.Write(off, []byte{'x'})
		n += 2
	}
	if got := e.u.Stats().Ignored; got != uint64(n) {
		t.Errorf("Ignored = %d, want %d", got, n)
	}
	if e.out.Len() != 0 || e.read(regSCR) != 0x42 || e.irq.Count() != 0 {
		t.Errorf("bad accesses changed state: out %q", e.out)
	}
}

func TestOnFirstOutput(t *testing.T) {
	e := newEnv()
	calls := 0
	e.u.OnFirstOutput = func() {
		calls++
		if e.out.Len() != 0 {
			t.Error("OnFirstOutput ran after the byte was written")
		}
	}
	e.write(regMCR, mcrLOOP)
	e.write(regTHR, 'l') // loopback is not output
	if calls != 0 {
		t.Fatal("OnFirstOutput called for a loopback byte")
	}
	e.write(regMCR, 0)
	for _, c := range []byte("boot") {
		e.write(regTHR, c)
	}
	if calls != 1 || e.out.String() != "boot" {
		t.Fatalf("%d calls, output %q", calls, e.out)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	if f.n%2 == 0 {
		return 0, nil // short write, no error: still a lost byte
	}
	return 0, errors.New("console gone")
}

func TestOutputErrorsCounted(t *testing.T) {
	irq := &devicestest.Trigger{}
	u := New(irq, &failWriter{})
	u.Write(regIER, []byte{ierETBEI})
	for range 4 {
		u.Write(regTHR, []byte{'x'})
	}
	s := u.Stats()
	if s.TxErrors != 4 || s.TxBytes != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	if irq.Count() != 5 { // the device keeps working
		t.Fatalf("%d interrupts", irq.Count())
	}
}

func TestNilWriterAndTrigger(t *testing.T) {
	u := New(nil, nil)
	u.Write(regIER, []byte{ierETBEI | ierERBFI})
	u.Write(regTHR, []byte{'x'})
	u.Input([]byte("y"))
	if s := u.Stats(); s.TxBytes != 1 || s.Interrupts != 3 || s.TriggerErrors != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestTriggerErrorsCounted(t *testing.T) {
	e := newEnv()
	e.irq.Fail(errors.New("irqfd closed"))
	e.write(regIER, ierETBEI)
	e.write(regTHR, 'a')
	if s := e.u.Stats(); s.Interrupts != 2 || s.TriggerErrors != 2 {
		t.Fatalf("Stats = %+v", s)
	}
	e.irq.Fail(nil)
	e.write(regTHR, 'b')
	if s := e.u.Stats(); s.Interrupts != 3 || s.TriggerErrors != 2 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestConcurrent drives the UART from an input feeder and two "vCPUs" at
// once; -race checks the locking, the counters check that no byte is lost
// or duplicated.
func TestConcurrent(t *testing.T) {
	var out lockedBuffer
	irq := &devicestest.Trigger{}
	u := New(irq, &out)
	u.Write(regIER, []byte{ierERBFI | ierETBEI})
	const inputs, chunk = 500, 7
	var received [2]int
	var wg sync.WaitGroup
	wg.Go(func() {
		for range inputs {
			u.Input(bytes.Repeat([]byte{'i'}, chunk))
		}
	})
	for cpu := range 2 {
		wg.Go(func() {
			b := []byte{0}
			for i := 0; i < 3000; i++ {
				u.Read(regLSR, b)
				if b[0]&lsrDR != 0 {
					u.Read(regRBR, b)
					if b[0] == 'i' {
						received[cpu]++
					}
				}
				u.Read(regIIR, b)
				u.Write(regTHR, []byte{byte('0' + cpu)})
			}
		})
	}
	wg.Wait()
	s := u.Stats()
	left := 0
	for b := []byte{0}; ; left++ {
		if u.Read(regLSR, b); b[0]&lsrDR == 0 {
			break
		}
		u.Read(regRBR, b)
	}
	if got := received[0] + received[1] + left; got != inputs*chunk || s.RxBytes != inputs*chunk {
		t.Errorf("received %d+%d, %d left, RxBytes %d; want %d", received[0], received[1], left, s.RxBytes, inputs*chunk)
	}
	if out.Len() != 6000 || s.TxBytes != 6000 {
		t.Errorf("output %d bytes, TxBytes %d, want 6000", out.Len(), s.TxBytes)
	}
	if s.Interrupts != irq.Count() {
		t.Errorf("Interrupts %d, Trigger calls %d", s.Interrupts, irq.Count())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func TestTransmitDoesNotAllocate(t *testing.T) {
	u := New(&devicestest.Trigger{}, nil)
	u.Write(regIER, []byte{ierETBEI})
	data := []byte{'x'}
	if n := testing.AllocsPerRun(1000, func() {
		u.Write(regTHR, data)
		u.Read(regLSR, data)
	}); n != 0 {
		t.Fatalf("%v allocations per THR write", n)
	}
}
