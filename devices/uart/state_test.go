package uart

import (
	"bytes"
	"encoding/gob"
	"strings"
	"testing"
)

// readAll reads every register the way a driver probes them (divisor
// latch included) and then drains RBR: what the guest would see.
func readAll(e *env) []byte {
	var got []byte
	for _, off := range []uint64{regIER, regLCR, regMCR, regSCR, regMSR, regIIR, regLSR, regIIR} {
		got = append(got, e.read(off))
	}
	lcr := e.read(regLCR)
	e.write(regLCR, lcr|lcrDLAB)
	got = append(got, e.read(regDLL), e.read(regDLM))
	e.write(regLCR, lcr)
	for e.read(regLSR)&lsrDR != 0 {
		got = append(got, e.read(regRBR))
	}
	return got
}

// gobTrip passes s through encoding/gob, as a snapshot file does.
func gobTrip(t *testing.T, s State) State {
	t.Helper()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(s); err != nil {
		t.Fatal(err)
	}
	var out State
	if err := gob.NewDecoder(&b).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStateRoundTrip: a UART set up as Linux's 8250 driver does, with
// input waiting (wrapped around the ring), an overrun latched, modem
// deltas and THR-empty pending, is saved and restored into a new UART;
// the new one answers every read exactly as the old one, input bytes
// included, and goes on working (output, interrupts).
func TestStateRoundTrip(t *testing.T) {
	for _, loop := range []bool{false, true} {
		orig := newEnv()
		e := orig
		e.write(regLCR, lcrDLAB)
		e.write(regDLL, 1)
		e.write(regDLM, 0)
		e.write(regLCR, 0x03)
		e.write(regFCR, fcrEnable|fcrClearRX|0x80)
		e.write(regSCR, 0x5a)
		mcr := byte(mcrDTR | mcrRTS | mcrOUT2)
		if loop {
			mcr |= mcrLOOP
		}
		e.write(regMCR, mcr)
		e.write(regIER, ierERBFI|ierETBEI|ierELSI|ierEDSSI)
		// Wrap the ring: fill, drain most, then overrun.
		e.u.Input(bytes.Repeat([]byte{'x'}, RxQueueSize-10))
		for range 20 {
			e.read(regRBR)
		}
		e.u.Input([]byte("hello, restored world" + strings.Repeat("!", 20)))
		e.write(regTHR, 'A')

		s := gobTrip(t, orig.u.State())
		if len(s.RX) != RxQueueSize || s.LSRErr != lsrOE {
			t.Fatalf("loop %v: saved %d input bytes, LSR errors %#x", loop, len(s.RX), s.LSRErr)
		}
		restored := newEnv()
		if err := restored.u.SetState(s); err != nil {
			t.Fatal(err)
		}
		if restored.irq.Count() != 0 {
			t.Error("SetState raised an interrupt")
		}
		want, got := readAll(orig), readAll(restored)
		if !bytes.Equal(got, want) {
			t.Fatalf("loop %v: restored UART reads\n% x\nwant\n% x", loop, got[:min(len(got), 16)], want[:min(len(want), 16)])
		}
		// It goes on: a THR write reaches the output (or loops back) and
		// interrupts.
		restored.write(regTHR, 'B')
		if loop {
			if restored.read(regRBR) != 'B' {
				t.Error("loopback after restore")
			}
		} else if restored.out.String() != "B" {
			t.Errorf("output after restore %q", restored.out.String())
		}
		if restored.irq.Count() == 0 {
			t.Error("no interrupt for THR empty after restore")
		}
	}
}

// TestSetStateRejects: impossible states are refused and change nothing.
func TestSetStateRejects(t *testing.T) {
	good := newEnv().u.State()
	for _, c := range []struct {
		name string
		mut  func(*State)
	}{
		{"version", func(s *State) { s.Version = 2 }},
		{"IER high bits", func(s *State) { s.IER = 0xf0 }},
		{"MCR high bits", func(s *State) { s.MCR = 0x20 }},
		{"FCR clear bits", func(s *State) { s.FCR = fcrClearRX }},
		{"LSR data ready latched", func(s *State) { s.LSRErr = lsrDR }},
		{"MSR line bits as deltas", func(s *State) { s.MSRDelta = msrCTS }},
		{"too much input", func(s *State) { s.RX = make([]byte, RxQueueSize+1) }},
	} {
		e := newEnv()
		e.write(regSCR, 0x77)
		before := e.u.State()
		s := good
		c.mut(&s)
		if err := e.u.SetState(s); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
		if after := e.u.State(); after.SCR != before.SCR || after.Version != before.Version {
			t.Errorf("%s: a refused state changed the UART", c.name)
		}
	}
}

// FuzzSetState: any state is refused or gives a UART whose registers read
// without a panic.
func FuzzSetState(f *testing.F) {
	f.Add(byte(0), byte(3), byte(0x0b), byte(0), byte(0xc1), byte(2), byte(1), true, []byte("abc"))
	f.Add(byte(0xff), byte(0xff), byte(0xff), byte(0xff), byte(0xff), byte(0xff), byte(0xff), false, []byte{})
	f.Fuzz(func(t *testing.T, ier, lcr, mcr, scr, fcr, lsr, msr byte, thr bool, rx []byte) {
		e := newEnv()
		s := State{Version: StateVersion, IER: ier, LCR: lcr, MCR: mcr, SCR: scr, DLL: lcr, DLM: scr,
			FCR: fcr, LSRErr: lsr, MSRDelta: msr, THRPending: thr, RX: rx}
		if e.u.SetState(s) != nil {
			return
		}
		readAll(e)
		e.write(regTHR, 'x')
		if got := e.u.State(); got.Version != StateVersion {
			t.Fatal("state lost its version")
		}
	})
}
