package vmm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/hullvm/hull/kvm"
)

// fakeBus records accesses; it owns ports/addresses [base, base+size).
type fakeBus struct {
	base, size uint64
	log        []string
	readValue  byte
}

func (b *fakeBus) owns(addr uint64, n int) bool {
	return addr >= b.base && addr+uint64(n) <= b.base+b.size
}

func (b *fakeBus) Read(addr uint64, data []byte) bool {
	if !b.owns(addr, len(data)) {
		return false
	}
	for i := range data {
		data[i] = b.readValue
	}
	b.log = append(b.log, fmt.Sprintf("r %#x %d", addr, len(data)))
	return true
}

func (b *fakeBus) Write(addr uint64, data []byte) bool {
	if !b.owns(addr, len(data)) {
		return false
	}
	b.log = append(b.log, fmt.Sprintf("w %#x %x", addr, data))
	return true
}

// Offsets in struct kvm_run (include/uapi/linux/kvm.h).
const (
	runExitReason = 8
	runUnion      = 32
	pageSize      = 4096
)

func page(reason uint32) []byte {
	p := make([]byte, pageSize)
	binary.LittleEndian.PutUint32(p[runExitReason:], reason)
	return p
}

func ioPage(dir, size uint8, port uint16, count uint32, dataOff uint64, data []byte) []byte {
	p := page(kvm.ExitIO)
	p[runUnion] = dir
	p[runUnion+1] = size
	binary.LittleEndian.PutUint16(p[runUnion+2:], port)
	binary.LittleEndian.PutUint32(p[runUnion+4:], count)
	binary.LittleEndian.PutUint64(p[runUnion+8:], dataOff)
	if dataOff < pageSize {
		copy(p[dataOff:], data)
	}
	return p
}

func newHandler() (*exitHandler, *fakeBus, *fakeBus) {
	pio := &fakeBus{base: 0x3f8, size: 8, readValue: 0x60}
	mmio := &fakeBus{base: 0xc0000000, size: 0x1000, readValue: 0x7}
	return &exitHandler{pio: pio, mmio: mmio}, pio, mmio
}

func TestHandleIO(t *testing.T) {
	h, pio, _ := newHandler()
	if req := h.handle(kvm.NewRun(ioPage(kvm.ExitIOOut, 1, 0x3f8, 1, 0x100, []byte{'A'}))); req != nil {
		t.Fatalf("out to serial stopped the VM: %+v", req)
	}
	// rep outsw: three 2-byte elements, each must reach the device separately
	if req := h.handle(kvm.NewRun(ioPage(kvm.ExitIOOut, 2, 0x3fa, 3, 0x200, []byte{1, 2, 3, 4, 5, 6}))); req != nil {
		t.Fatalf("rep outsw stopped the VM: %+v", req)
	}
	want := []string{"w 0x3f8 41", "w 0x3fa 0102", "w 0x3fa 0304", "w 0x3fa 0506"}
	if strings.Join(pio.log, ",") != strings.Join(want, ",") {
		t.Fatalf("bus saw %q, want %q", pio.log, want)
	}
	// an input from a port with no device reads all ones, element by element
	p := ioPage(kvm.ExitIOIn, 4, 0x80, 2, 0x300, nil)
	if req := h.handle(kvm.NewRun(p)); req != nil {
		t.Fatalf("in from nowhere stopped the VM: %+v", req)
	}
	if !bytes.Equal(p[0x300:0x308], bytes.Repeat([]byte{0xff}, 8)) {
		t.Fatalf("unhandled in returned %x", p[0x300:0x308])
	}
	if n := h.unhandledPIO.Load(); n != 2 {
		t.Fatalf("unhandled PIO count %d, want 2", n)
	}
	// an in from the device lands in the run page
	p = ioPage(kvm.ExitIOIn, 1, 0x3fd, 1, 0x400, nil)
	if h.handle(kvm.NewRun(p)) != nil || p[0x400] != 0x60 {
		t.Fatalf("in from serial: got %#x", p[0x400])
	}
}

func TestHandleHostileIO(t *testing.T) {
	h, _, _ := newHandler()
	for _, p := range [][]byte{
		ioPage(kvm.ExitIOOut, 1, 0x3f8, 1, pageSize, nil),       // data past the page
		ioPage(kvm.ExitIOOut, 4, 0x3f8, 0x7fffffff, 0x100, nil), // huge count
		ioPage(kvm.ExitIOOut, 8, 0x3f8, 1, ^uint64(0)-2, nil),   // offset overflow
	} {
		req := h.handle(kvm.NewRun(p))
		if req == nil || req.reason != ReasonInternalError {
			t.Fatalf("hostile IO exit: got %+v, want an internal-error stop", req)
		}
	}
}

func TestHandleMMIO(t *testing.T) {
	h, _, mmio := newHandler()
	p := page(kvm.ExitMMIO)
	binary.LittleEndian.PutUint64(p[runUnion:], 0xc0000000)
	p[runUnion+8] = 123
	binary.LittleEndian.PutUint32(p[runUnion+16:], 1)
	p[runUnion+20] = 1 // is_write
	if req := h.handle(kvm.NewRun(p)); req != nil {
		t.Fatalf("mmio write stopped the VM: %+v", req)
	}
	if len(mmio.log) != 1 || mmio.log[0] != "w 0xc0000000 7b" {
		t.Fatalf("mmio bus saw %q", mmio.log)
	}
	// read from an unmapped address: all ones, counted
	binary.LittleEndian.PutUint64(p[runUnion:], 0xd0000000)
	binary.LittleEndian.PutUint32(p[runUnion+16:], 4)
	p[runUnion+20] = 0
	if req := h.handle(kvm.NewRun(p)); req != nil {
		t.Fatalf("mmio read stopped the VM: %+v", req)
	}
	if !bytes.Equal(p[runUnion+8:runUnion+12], []byte{0xff, 0xff, 0xff, 0xff}) || h.unhandledMMIO.Load() != 1 {
		t.Fatalf("unmapped read gave %x (count %d)", p[runUnion+8:runUnion+12], h.unhandledMMIO.Load())
	}
}

func TestHandleStops(t *testing.T) {
	h, _, _ := newHandler()
	sysEvent := func(typ uint32) []byte {
		p := page(kvm.ExitSystemEvent)
		binary.LittleEndian.PutUint32(p[runUnion:], typ)
		return p
	}
	internal := func(sub uint32) []byte {
		p := page(kvm.ExitInternalError)
		binary.LittleEndian.PutUint32(p[runUnion:], sub)
		binary.LittleEndian.PutUint32(p[runUnion+4:], 1000) // hostile ndata
		return p
	}
	for _, tc := range []struct {
		name   string
		page   []byte
		reason Reason
		emul   bool
	}{
		{"shutdown", page(kvm.ExitShutdown), ReasonTripleFault, false},
		{"hlt", page(kvm.ExitHLT), ReasonPowerOff, false},
		{"fail entry", page(kvm.ExitFailEntry), ReasonFailEntry, false},
		{"emulation", internal(kvm.InternalErrorEmulation), ReasonEmulationFailure, true},
		{"other internal", internal(kvm.InternalErrorSimulEx), ReasonInternalError, false},
		{"poweroff", sysEvent(kvm.SystemEventShutdown), ReasonPowerOff, false},
		{"reset", sysEvent(kvm.SystemEventReset), ReasonReset, false},
		{"crash", sysEvent(kvm.SystemEventCrash), ReasonGuestPanic, false},
		{"unknown event", sysEvent(99), ReasonInternalError, false},
		{"unknown exit", page(1000), ReasonInternalError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := h.handle(kvm.NewRun(tc.page))
			if req == nil || req.reason != tc.reason || req.emul != tc.emul {
				t.Fatalf("got %+v, want reason %v emul %v", req, tc.reason, tc.emul)
			}
			if req.message == "" {
				t.Fatal("stop without a message")
			}
		})
	}
	if req := h.handle(kvm.NewRun(page(kvm.ExitIntr))); req != nil {
		t.Fatalf("KVM_EXIT_INTR stopped the VM: %+v", req)
	}
}

func TestExitCodesDistinct(t *testing.T) {
	seen := map[int]Reason{}
	for r := ReasonPowerOff; r <= ReasonHostError; r++ {
		if r == ReasonPowerOff || r == ReasonReset || r == ReasonGuestExit {
			continue
		}
		code := (&Exit{Reason: r}).ExitCode()
		if code < 64 {
			t.Errorf("%v exits %d, inside the range test guests use", r, code)
		}
		if other, dup := seen[code]; dup {
			t.Errorf("%v and %v share exit code %d", r, other, code)
		}
		seen[code] = r
		if strings.HasPrefix(r.String(), "Reason(") {
			t.Errorf("reason %d has no name", int(r))
		}
	}
	if c := (&Exit{Reason: ReasonGuestExit, Code: 42}).ExitCode(); c != 42 {
		t.Errorf("guest exit 42 gives %d", c)
	}
	if c := (&Exit{Reason: ReasonReset}).ExitCode(); c != 0 {
		t.Errorf("reset gives %d", c)
	}
}

func FuzzHandleExit(f *testing.F) {
	f.Add(ioPage(kvm.ExitIOOut, 1, 0x3f8, 1, 0x100, []byte{'x'}))
	f.Add(page(kvm.ExitMMIO))
	f.Add(page(kvm.ExitInternalError))
	f.Fuzz(func(t *testing.T, head []byte) {
		p := make([]byte, pageSize)
		copy(p, head)
		h, _, _ := newHandler()
		_ = h.handle(kvm.NewRun(p)) // property: no panic, whatever the page says
	})
}
