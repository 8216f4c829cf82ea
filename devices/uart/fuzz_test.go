package uart

import (
	"errors"
	"testing"

	"github.com/hullvm/hull/devices/devicestest"
)

// FuzzUART runs a guest-chosen sequence of accesses (any offset, any
// length) and host input against a UART whose output fails now and then.
// Properties: no panic; LSR always reports the transmitter empty; IIR always
// holds a valid identification; counters add up.
//
// Encoding, repeated: op byte (low 2 bits: read, write, input, checked read),
// offset byte (0-15, so past the registers too), length byte (0-9), then
// that many data bytes.
func FuzzUART(f *testing.F) {
	f.Add([]byte{1, 1, 1, ierETBEI, 1, 0, 1, 'x', 0, 2, 1})                      // THRE interrupt
	f.Add([]byte{1, 3, 1, lcrDLAB, 1, 0, 1, 0x55, 0, 0, 1, 1, 3, 1, 0})          // divisor latch
	f.Add([]byte{1, 4, 1, mcrLOOP | 0x0a, 0, 6, 1, 1, 0, 1, 'L', 0, 0, 1})       // loopback
	f.Add([]byte{2, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 5, 1, 0, 0, 1, 0, 0, 4}) // input, odd widths
	f.Add([]byte{1, 2, 1, fcrEnable | fcrClearRX, 0, 2, 1, 0, 15, 9})
	f.Fuzz(func(t *testing.T, prog []byte) {
		irq := &devicestest.Trigger{}
		fw := &flakyWriter{}
		u := New(irq, fw)
		buf := make([]byte, 16)
		for len(prog) >= 3 {
			op, off, n := prog[0]&3, uint64(prog[1]&15), int(prog[2])%10
			prog = prog[3:]
			data := buf[:min(n, len(prog))]
			copy(data, prog)
			prog = prog[len(data):]
			switch op {
			case 0:
				u.Read(off, data)
			case 1:
				u.Write(off, data)
			case 2:
				u.Input(data)
				if len(data) > 0 && n == 9 { // now and then, a lot of input
					u.Input(make([]byte, RxQueueSize))
				}
			case 3:
				b := []byte{0}
				if u.Read(regLSR, b); b[0]&(lsrTHRE|lsrTEMT) != lsrTHRE|lsrTEMT {
					t.Fatalf("LSR = %#x: transmitter not empty", b[0])
				}
				u.Read(regIIR, b)
				switch b[0] &^ iirFIFOs {
				case iirNone, iirRLS, iirRDA, iirTHRE, iirMS:
				default:
					t.Fatalf("IIR = %#x", b[0])
				}
				if b[0]&iirFIFOs != 0 && b[0]&iirFIFOs != iirFIFOs {
					t.Fatalf("IIR = %#x: FIFO bits half set", b[0])
				}
			}
		}
		s := u.Stats()
		if s.TxBytes+s.TxErrors != uint64(fw.calls) || s.Interrupts != irq.Count() {
			t.Fatalf("Stats = %+v, writer saw %d writes, %d triggers", s, fw.calls, irq.Count())
		}
	})
}

// flakyWriter fails every third write.
type flakyWriter struct{ calls int }

func (f *flakyWriter) Write(p []byte) (int, error) {
	f.calls++
	if f.calls%3 == 0 {
		return 0, errors.New("flaky")
	}
	return len(p), nil
}
