// Package devicestest holds helpers for testing devices without a VM: a
// Trigger that counts interrupts and a Device that records accesses.
//
//	irq := &devicestest.Trigger{}
//	u := uart.New(irq, &out)
//	u.Write(1, []byte{0x02})      // IER: THR-empty interrupt on
//	if irq.Count() != 1 { ... }   // raised on enabling it
//
//	rec := &devicestest.Recorder{ReadValue: 0xab}
//	bus.Insert(0x1000, 0x10, rec, "rec")
//	bus.Write(0x1004, []byte{1, 2})
//	rec.Accesses() // [write 0x4 0102]
//
// Test-only: the VMM never imports it.
package devicestest
