// Package guesttest holds what hull's freestanding test guests (tests/guest)
// print and return, so that every test that runs them — the host-process
// check in this package (unit tier) and tests/kvm (kvm tier) — asserts the
// same thing:
//
//	out := runGuest(t, guesttest.Path(dir, "e820"), ...)
//	if want := guesttest.E820Output(256); !strings.Contains(out, want) { ... }
//
// The guests are C (tests/guest/*.c); keep the two in step.
package guesttest

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Guests names every guest tests/guest/Makefile builds (its GUESTS).
var Guests = []string{"hello", "exitcode", "cmdline", "e820", "triplefault", "reset", "smp", "serialflood", "ioloop", "spin", "counter",
	"virtioblk", "virtiovsock", "virtiohostile"}

// ELFBase is where every guest's single PT_LOAD segment and entry point lie
// (guest.ld): physical = virtual 2 MiB.
const ELFBase = 0x200000

// Path returns the ELF of guest name in the build directory dir.
func Path(dir, name string) string { return filepath.Join(dir, name+".elf") }

// What each guest prints (each line ends in "\n" on the serial port) and the
// exit-port code it returns.
const (
	HelloLine = "hello from the guest" // hello: exit 0

	ExitcodeCode = 42 // exitcode: prints nothing

	TripleFaultLine  = "triplefault: loading a null IDT" // then the VM must stop: "triple fault"
	TripleFaultAlive = "triplefault: still alive"        // printed only if the CPU survived; exit 1

	ResetLine  = "reset: writing 0xfe to port 0x64" // then the VM must stop: "reset"
	ResetAlive = "reset: still alive"               // printed only if the VM went on; exit 1

	SpinLine = "spin: spinning forever" // never exits

	SMPStartLine = "smp: BSP APIC ID 0, starting APIC ID 1"
	SMPAPLine    = "smp: AP running in real mode" // printed by the AP itself
	SMPUpLine    = "smp: 2 cpus up"               // exit 0
	SMPOnlyOne   = "smp: only 1 cpu up"           // exit 1

	IOLoopDone = "ioloop: done" // exit 0; exit 2 for a malformed n=
)

// CmdlineLine is what the cmdline guest prints for the command line cl (exit 0).
func CmdlineLine(cl string) string { return "cmdline: " + cl }

// IOLoopCmdline is the command line that makes ioloop do n port writes, and
// IOLoopStart the line it prints before them.
func IOLoopCmdline(n uint32) string { return fmt.Sprintf("n=%d", n) }
func IOLoopStart(n uint32) string   { return fmt.Sprintf("ioloop: n=%d", n) }

// E820Entry is one memory-map entry as the e820 guest prints it.
type E820Entry struct {
	Addr, Size uint64
	Type       uint32
}

// E820Line formats e as the e820 guest does.
func E820Line(e E820Entry) string {
	return fmt.Sprintf("e820: %#x %#x %d", e.Addr, e.Size, e.Type)
}

// E820Output is the e820 guest's whole output for the given entries.
func E820Output(entries []E820Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(E820Line(e) + "\n")
	}
	fmt.Fprintf(&b, "e820: %d entries\n", len(entries))
	return b.String()
}

// HullE820 is the memory map DESIGN.md §3 promises a guest with memMiB of
// RAM: RAM [0, 0x9fc00), reserved up to 1 MiB, RAM [1 MiB, min(mem, 3 GiB)),
// and RAM from 4 GiB for the rest. It is written from the design, not from
// package boot, so that a test comparing the two checks the implementation.
func HullE820(memMiB int) []E820Entry {
	const (
		ebda    = 0x9fc00
		highMem = 1 << 20
		gapLow  = 3 << 30
		gapHigh = 4 << 30
	)
	mem := uint64(memMiB) << 20
	out := []E820Entry{{0, ebda, 1}, {ebda, highMem - ebda, 2}}
	low := min(mem, gapLow)
	out = append(out, E820Entry{highMem, low - highMem, 1})
	if mem > low {
		out = append(out, E820Entry{gapHigh, mem - low, 1})
	}
	return out
}

// Serial flood geometry (serialflood.c).
const (
	FloodLines   = 1024
	FloodLineLen = 64
	floodAlpha   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// FloodOutput is everything serialflood prints: 1024 lines of 64 bytes,
// then its summary line.
func FloodOutput() string {
	var b strings.Builder
	b.Grow(FloodLines*FloodLineLen + 64)
	for i := range FloodLines {
		fmt.Fprintf(&b, "flood %04x ", i)
		for j := range FloodLineLen - 12 {
			b.WriteByte(floodAlpha[(7*i+j)%len(floodAlpha)])
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "flood: done %d lines %d bytes\n", FloodLines, FloodLines*FloodLineLen)
	return b.String()
}

// Counter is what the counter guest prints: "count 1" ... "count n", one per
// line, then CounterDone (exit 0); CounterLost and exit 3 when its memory
// table was not what it wrote.
const (
	CounterDone = "counter: done"
	CounterLost = "counter: memory lost at"
)

// CounterOutput is the whole console output of a counter run to n.
func CounterOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "count %d\n", i)
	}
	return b.String() + CounterDone + "\n"
}

// CounterCmdline makes counter count to n with delay loop iterations
// between lines.
func CounterCmdline(n, delay int) string { return fmt.Sprintf("n=%d delay=%d", n, delay) }
