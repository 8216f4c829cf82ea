package uart

// Register offsets, named as in the PC16550D datasheet (and Linux's
// include/uapi/linux/serial_reg.h). With LCR.DLAB set, offsets 0 and 1 are
// the divisor latch.
const (
	regRBR = 0 // read: receiver buffer (DLAB=0)
	regTHR = 0 // write: transmitter holding (DLAB=0)
	regDLL = 0 // divisor latch, low byte (DLAB=1)
	regIER = 1 // interrupt enable (DLAB=0)
	regDLM = 1 // divisor latch, high byte (DLAB=1)
	regIIR = 2 // read: interrupt identification
	regFCR = 2 // write: FIFO control
	regLCR = 3 // line control
	regMCR = 4 // modem control
	regLSR = 5 // line status (read-only)
	regMSR = 6 // modem status (read-only)
	regSCR = 7 // scratch

	// Size is the number of registers: the length of the UART's range on
	// the port-I/O bus.
	Size = 8
)

// IER: interrupt enable.
const (
	ierERBFI = 0x01 // received data available
	ierETBEI = 0x02 // transmitter holding register empty
	ierELSI  = 0x04 // receiver line status
	ierEDSSI = 0x08 // modem status
	ierMask  = 0x0f // bits 4-7 are always 0 on a 16550A (Linux probes bit 6 for XScale)
)

// IIR: interrupt identification, highest priority first.
const (
	iirNone  = 0x01 // no interrupt pending
	iirRLS   = 0x06 // receiver line status (overrun)
	iirRDA   = 0x04 // received data available
	iirTHRE  = 0x02 // transmitter holding register empty
	iirMS    = 0x00 // modem status
	iirFIFOs = 0xc0 // both bits set while FCR.FIFO_EN is: "16550A"
)

// FCR: FIFO control.
const (
	fcrEnable  = 0x01 // FIFO enable; changing it clears both FIFOs
	fcrClearRX = 0x02 // self-clearing: empty the receive FIFO
	fcrClearTX = 0x04 // self-clearing: empty the transmit FIFO (always empty here)
	fcrTrigger = 0xc0 // receive trigger level, kept but unused
)

// LCR: line control.
const lcrDLAB = 0x80 // divisor latch access

// MCR: modem control.
const (
	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLOOP = 0x10 // loopback: THR feeds RBR, MSR mirrors MCR
	mcrMask = 0x1f // bits 5-7 are always 0 on a 16550A (bit 5 is AFE on a 16750)
)

// LSR: line status.
const (
	lsrDR   = 0x01 // data ready
	lsrOE   = 0x02 // overrun error: input was dropped; cleared by reading LSR
	lsrTHRE = 0x20 // transmitter holding register empty
	lsrTEMT = 0x40 // transmitter empty
)

// MSR: modem status. The low nibble holds the delta bits, cleared by reading.
const (
	msrDCTS  = 0x01
	msrDDSR  = 0x02
	msrTERI  = 0x04 // trailing edge of RI
	msrDDCD  = 0x08
	msrCTS   = 0x10
	msrDSR   = 0x20
	msrRI    = 0x40
	msrDCD   = 0x80
	msrLines = msrDCD | msrDSR | msrCTS // with no loopback: a modem that is always there and ready
)

// defaultDivisor is 115200/9600: the divisor latch's value before the guest
// sets one (baud rate is meaningless here; output is immediate).
const defaultDivisor = 12
