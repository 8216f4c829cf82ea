package uart

import (
	"testing"

	"github.com/hullvm/hull/devices/devicestest"
)

// Constants and sequences below follow Linux 6.1
// drivers/tty/serial/8250/8250_port.c and include/uapi/linux/serial_reg.h.
const (
	linuxLCRConfModeA = 0x80 // UART_LCR_CONF_MODE_A (DLAB)
	linuxLCRConfModeB = 0xbf // UART_LCR_CONF_MODE_B
	linuxEFR          = 2    // UART_EFR, visible with LCR = 0xbf on chips that have it
	linuxFCR7_64Byte  = 0x20 // UART_FCR7_64BYTE
	linuxIIR64Byte    = 0x20 // UART_IIR_64BYTE_FIFO
	linuxIERUUE       = 0x40 // UART_IER_UUE (XScale)
	linuxIERAll       = 0x0f // UART_IER_ALL_INTR
	linuxMSRStatus    = 0xf0 // UART_MSR_STATUS_BITS
)

// linuxPort is the driver's view: inb/outb at an offset.
type linuxPort struct{ u *UART }

func (p linuxPort) in(off uint64) byte {
	b := []byte{0}
	p.u.Read(off, b)
	return b[0]
}

func (p linuxPort) out(off uint64, v byte) { p.u.Write(off, []byte{v}) }

// autoconfig is Linux's autoconfig() with UPF_SKIP_TEST clear (the loopback
// test runs) and the full autoconfig_16550a() variant probe
// (CONFIG_SERIAL_8250_16550A_VARIANTS). It returns the type it detects.
func (p linuxPort) autoconfig(t *testing.T) string {
	// Existence test through IER.
	scratch := p.in(regIER)
	p.out(regIER, 0)
	scratch2 := p.in(regIER) & linuxIERAll
	p.out(regIER, linuxIERAll)
	scratch3 := p.in(regIER) & linuxIERAll
	p.out(regIER, scratch)
	if scratch2 != 0 || scratch3 != linuxIERAll {
		t.Logf("IER test failed (%02x, %02x)", scratch2, scratch3)
		return "none"
	}
	saveMCR := p.in(regMCR)
	saveLCR := p.in(regLCR)

	// Loopback test.
	p.out(regMCR, mcrLOOP|0x0a)
	status1 := p.in(regMSR) & linuxMSRStatus
	p.out(regMCR, saveMCR)
	if status1 != msrDCD|msrCTS {
		t.Logf("LOOP test failed (%02x)", status1)
		return "none"
	}

	p.out(regLCR, linuxLCRConfModeB)
	p.out(linuxEFR, 0)
	p.out(regLCR, 0)
	p.out(regFCR, fcrEnable)
	typ := "unknown"
	switch p.in(regIIR) >> 6 {
	case 0:
		typ = "8250/16450"
	case 2:
		typ = "16550"
	case 3:
		typ = p.autoconfig16550A(t)
	}

	p.out(regLCR, saveLCR)
	// Reset the UART, as autoconfig does at its end.
	p.out(regMCR, saveMCR)
	p.out(regFCR, fcrEnable)
	p.out(regFCR, fcrEnable|fcrClearRX|fcrClearTX)
	p.out(regFCR, 0)
	p.in(regRBR)
	p.out(regIER, 0)
	return typ
}

func (p linuxPort) autoconfig16550A(t *testing.T) string {
	// EFR with DLAB set: only ST16C650V1.
	p.out(regLCR, linuxLCRConfModeA)
	if p.in(linuxEFR) == 0 {
		return "16650 or FSL64 (EFR probe read 0)"
	}
	// EFR with LCR = 0xbf: ST16C650V2, TI16C752 and others.
	p.out(regLCR, linuxLCRConfModeB)
	if p.in(linuxEFR) == 0 {
		return "EFR UART (EFRv2 probe read 0)"
	}
	// National Semiconductor SuperIO: EXCR1 in bank 2 mirrors MCR.LOOP.
	p.out(regLCR, 0)
	status1 := p.in(regMCR)
	p.out(regLCR, 0xe0)
	status2 := p.in(0x02)
	if (status2^status1)&mcrLOOP == 0 {
		p.out(regLCR, 0)
		p.out(regMCR, status1^mcrLOOP)
		p.out(regLCR, 0xe0)
		status2 = p.in(0x02)
		p.out(regLCR, 0)
		p.out(regMCR, status1)
		if (status2^status1)&mcrLOOP != 0 {
			return "NS16550A"
		}
	}
	// TI16750: IIR bit 5 set by FCR bit 5 only with DLAB set.
	p.out(regLCR, 0)
	p.out(regFCR, fcrEnable|linuxFCR7_64Byte)
	s1 := p.in(regIIR) & (linuxIIR64Byte | iirFIFOs)
	p.out(regFCR, fcrEnable)
	p.out(regLCR, linuxLCRConfModeA)
	p.out(regFCR, fcrEnable|linuxFCR7_64Byte)
	s2 := p.in(regIIR) & (linuxIIR64Byte | iirFIFOs)
	p.out(regFCR, fcrEnable)
	p.out(regLCR, 0)
	if s1 == iirFIFOs && s2 == linuxIIR64Byte|iirFIFOs {
		return "16750"
	}
	// XScale: IER bit 6 (UUE) sticks.
	iersave := p.in(regIER)
	p.out(regIER, iersave&^linuxIERUUE)
	if p.in(regIER)&linuxIERUUE == 0 {
		p.out(regIER, iersave|linuxIERUUE)
		if p.in(regIER)&linuxIERUUE != 0 {
			return "XScale"
		}
	} else {
		t.Log("couldn't force IER_UUE to 0")
	}
	p.out(regIER, iersave)
	return "16550A"
}

// startup is the part of serial8250_do_startup that talks to the chip,
// including the THRE re-assertion test. It reports whether Linux would set
// UART_BUG_THRE (and fall back to polling the transmitter with a timer).
func (p linuxPort) startup(t *testing.T) (bugTHRE bool) {
	p.out(regFCR, fcrEnable)
	p.out(regFCR, fcrEnable|fcrClearRX|fcrClearTX)
	p.out(regFCR, 0)
	p.in(regLSR)
	p.in(regRBR)
	p.in(regIIR)
	p.in(regMSR)
	if p.in(regLSR) == 0xff {
		t.Fatal("LSR safety check engaged")
	}
	p.out(regLCR, 0x03) // UART_LCR_WLEN8
	p.out(regMCR, mcrOUT2|mcrRTS|mcrDTR)

	for p.in(regLSR)&lsrTHRE == 0 { // wait_for_xmitr
	}
	p.out(regIER, ierETBEI)
	iir1 := p.in(regIIR)
	p.out(regIER, 0)
	p.out(regIER, ierETBEI)
	iir := p.in(regIIR)
	p.out(regIER, 0)
	return iir1&iirNone == 0 && iir&iirNone != 0
}

func TestLinuxDetects16550A(t *testing.T) {
	irq := &devicestest.Trigger{}
	u := New(irq, nil)
	p := linuxPort{u}
	if typ := p.autoconfig(t); typ != "16550A" {
		t.Fatalf("Linux autoconfig detects %q, want 16550A", typ)
	}
	if p.startup(t) {
		t.Fatal("Linux would flag UART_BUG_THRE: THRE not re-asserted when IER.THRI is set again")
	}
	if s := u.Stats(); s.Ignored != 0 || s.TxBytes != 0 {
		t.Errorf("probe: Stats = %+v", s)
	}
}

// TestLinuxConsoleAndTTY runs the two ways Linux transmits: the polled
// console (serial8250_console_write: IER off, wait for THRE, write, restore
// IER) and the interrupt-driven tty (start_tx sets IER.THRI; the handler
// reads IIR and LSR and refills THR up to the FIFO size, 16).
func TestLinuxConsoleAndTTY(t *testing.T) {
	var out lockedBuffer
	irq := &devicestest.Trigger{}
	u := New(irq, &out)
	p := linuxPort{u}
	p.startup(t)
	p.out(regFCR, fcrEnable|0x80) // UART_FCR_R_TRIG_10
	p.out(regIER, ierERBFI|ierELSI)

	// Console.
	ier := p.in(regIER)
	p.out(regIER, 0)
	for _, c := range []byte("[ 0.000] console\n") {
		for p.in(regLSR)&lsrTHRE == 0 {
		}
		p.out(regTHR, c)
	}
	p.out(regIER, ier)

	// TTY: queue 40 bytes and let "interrupts" drain them.
	pending := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCD")
	handled := 0
	before := irq.Count()
	p.out(regIER, ierERBFI|ierELSI|ierETBEI) // start_tx
	for irq.Count() > before {               // each Trigger: one interrupt to serve
		before = irq.Count()
		for { // serial8250_interrupt: loop until IIR says no interrupt
			iir := p.in(regIIR)
			if iir&iirNone != 0 {
				break
			}
			handled++
			lsr := p.in(regLSR)
			if lsr&lsrTHRE != 0 && p.in(regIER)&ierETBEI != 0 {
				for i := 0; i < 16 && len(pending) > 0; i++ {
					p.out(regTHR, pending[0])
					pending = pending[1:]
				}
				if len(pending) == 0 {
					p.out(regIER, ierERBFI|ierELSI) // __stop_tx
				}
			}
		}
	}
	if len(pending) != 0 {
		t.Fatalf("tty stalled with %q unsent", pending)
	}
	if want := "[ 0.000] console\n0123456789abcdefghijklmnopqrstuvwxyzABCD"; out.b.String() != want {
		t.Fatalf("output %q, want %q", out.b.String(), want)
	}
	if handled < 3 {
		t.Errorf("%d THRE interrupts handled for 40 bytes in 16-byte batches", handled)
	}
}
