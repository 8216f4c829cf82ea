// Package uart emulates a 16550A UART well enough for Linux's 8250 driver,
// which detects it as a 16550A, and for simple polled consoles.
//
//	irq := ...                       // a devices.Trigger: irqfd for IRQ 4 in the VMM
//	serial := uart.New(irq, os.Stdout)
//	serial.OnFirstOutput = func() { timeline.mark("first serial byte") }
//	if err := pio.Insert(0x3f8, uart.Size, serial, "serial"); err != nil { ... }
//	go func() { // console input
//		buf := make([]byte, 256)
//		for {
//			n, err := os.Stdin.Read(buf)
//			serial.Input(buf[:n])
//			if err != nil { return }
//		}
//	}()
//	...
//	s := serial.Stats() // TxErrors, RxDropped, Ignored accesses, ...
//
// The port base (0x3f8) and IRQ (4) are the VMM's business; the UART sees
// offsets 0-7 and raises its interrupt through devices.Trigger.
//
// # Model
//
// Output is synchronous: a THR write goes straight to the io.Writer, so LSR
// always shows THRE|TEMT and the THR-empty interrupt is raised again after
// every write (when IER.ETBEI is set) and on each 0→1 edge of IER.ETBEI;
// reading IIR while it reports THR empty clears it, as on the chip. Input
// is a bounded queue (RxQueueSize) standing in for the receive FIFO: LSR.DR
// is set while it holds data, the received-data interrupt has priority over
// THR empty, and input that does not fit is dropped and reported as an
// overrun (LSR.OE; a line-status interrupt with IER.ELSI). A FIFO-clear in
// FCR (or toggling FCR.FIFO_EN) discards the queue, as the chip discards its
// FIFO. IIR shows 0xC0 while FIFOs are enabled. MCR loopback feeds THR back
// into RBR and mirrors MCR into MSR (RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD),
// which is what Linux's autoconfig probes; outside loopback MSR reads
// DCD|DSR|CTS. The divisor latch and scratch register hold what is written.
// Line-status errors other than overrun, break, and the receiver timeout
// interrupt are not modelled.
//
// Each Trigger call is one interrupt edge. One goes out when the chip's
// interrupt output would rise (some enabled interrupt becomes pending), and
// again when an enabled source fires anew while it is already high: on each
// THR write with IER.ETBEI (the chip drops and re-raises THRE) and on each
// Input with IER.ERBFI.
//
// Guest accesses other than 1-byte accesses at offsets 0-7 are ignored
// (reads see 0xff) and counted in Stats.Ignored; nothing is logged.
//
// # Snapshots
//
// State returns every register, the queued input and the pending
// interrupt conditions (gob-encodable); SetState puts them into a new UART
// before the guest runs, refusing a state the chip could never be in, and
// raises no interrupt (one pending at the snapshot is in the interrupt
// controller's state).
package uart
