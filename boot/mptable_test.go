package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func sum8(b []byte) (s uint8) {
	for _, v := range b {
		s += v
	}
	return s
}

// parsedMP is an MP table read back from guest memory with offsets from the
// MP spec v1.4 (Tables 4-1 to 4-12).
type parsedMP struct {
	cpus     []mpCPU
	buses    []string
	ioapics  []mpIOAPIC
	ioInts   [][8]byte
	localInt [][8]byte
	lapic    uint32
	count    int
}

type mpCPU struct{ id, ver, flags uint8 }
type mpIOAPIC struct {
	id, ver, flags uint8
	addr           uint32
}

func parseMP(t *testing.T, b []byte) parsedMP {
	t.Helper()
	le := binary.LittleEndian
	// Floating pointer: 16 bytes, "_MP_", checksum over all of it.
	if string(b[:4]) != "_MP_" || b[8] != 1 || b[9] != 4 || sum8(b[:16]) != 0 {
		t.Fatalf("floating pointer % x (sum %d)", b[:16], sum8(b[:16]))
	}
	if b[11] != 0 || b[12] != 0 {
		t.Errorf("feature bytes %#x %#x: want a configuration table and virtual wire mode", b[11], b[12])
	}
	phys := le.Uint32(b[4:])
	if phys != uint32(MPTableAddr)+16 {
		t.Fatalf("configuration table pointer %#x", phys)
	}
	cfg := b[phys-uint32(MPTableAddr):]
	length := le.Uint16(cfg[4:])
	if string(cfg[:4]) != "PCMP" || cfg[6] != 4 || sum8(cfg[:length]) != 0 {
		t.Fatalf("configuration header % x (sum %d)", cfg[:44], sum8(cfg[:length]))
	}
	if le.Uint16(cfg[40:]) != 0 || le.Uint32(cfg[28:]) != 0 {
		t.Error("extended table or OEM table announced")
	}
	p := parsedMP{lapic: le.Uint32(cfg[36:]), count: int(le.Uint16(cfg[34:]))}
	e := cfg[44:length]
	n := 0
	for len(e) > 0 {
		n++
		switch e[0] {
		case 0:
			p.cpus = append(p.cpus, mpCPU{e[1], e[2], e[3]})
			if le.Uint32(e[8:])&(1<<9) == 0 {
				t.Errorf("CPU %d without the APIC feature flag", e[1])
			}
			e = e[20:]
			continue
		case 1:
			p.buses = append(p.buses, fmt.Sprintf("%d:%s", e[1], e[2:8]))
		case 2:
			p.ioapics = append(p.ioapics, mpIOAPIC{e[1], e[2], e[3], le.Uint32(e[4:])})
		case 3:
			p.ioInts = append(p.ioInts, [8]byte(e[:8]))
		case 4:
			p.localInt = append(p.localInt, [8]byte(e[:8]))
		default:
			t.Fatalf("unknown entry type %d", e[0])
		}
		e = e[8:]
	}
	if n != p.count {
		t.Errorf("entry count %d, parsed %d entries", p.count, n)
	}
	return p
}

func TestMPTable(t *testing.T) {
	for _, n := range []int{1, 2, 7, 32, MaxCPUs} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			mem := newLowMem(t)
			if err := WriteMPTable(mem, n); err != nil {
				t.Fatal(err)
			}
			size := mpTableSize(n)
			if MPTableAddr+gpa(size) > HighMemStart {
				t.Fatalf("MP table for %d CPUs ends past 1 MiB", n)
			}
			p := parseMP(t, readBytes(t, mem, MPTableAddr, size))
			if p.lapic != uint32(LAPICAddr) {
				t.Errorf("LAPIC address %#x", p.lapic)
			}
			if len(p.cpus) != n {
				t.Fatalf("%d CPUs", len(p.cpus))
			}
			for i, c := range p.cpus {
				wantFlags := uint8(1)
				if i == 0 {
					wantFlags = 3 // enabled + bootstrap processor
				}
				if int(c.id) != i || c.flags != wantFlags || c.ver != 0x14 {
					t.Errorf("CPU entry %d = %+v", i, c)
				}
			}
			if fmt.Sprint(p.buses) != "[0:ISA   ]" {
				t.Errorf("buses %v", p.buses)
			}
			if len(p.ioapics) != 1 || p.ioapics[0] != (mpIOAPIC{uint8(n), 0x11, 1, uint32(IOAPICAddr)}) {
				t.Fatalf("IOAPICs %+v", p.ioapics)
			}
			if len(p.ioInts) != 24 {
				t.Fatalf("%d I/O interrupt entries", len(p.ioInts))
			}
			for pin, e := range p.ioInts {
				// type 3, INT, flags 0 (conforms), bus 0, IRQ pin → IOAPIC n pin.
				if want := [8]byte{3, 0, 0, 0, 0, uint8(pin), uint8(n), uint8(pin)}; e != want {
					t.Errorf("I/O interrupt %d = % x, want % x", pin, e, want)
				}
			}
			wantLocal := [][8]byte{{4, 3, 0, 0, 0, 0, 0, 0}, {4, 1, 0, 0, 0, 0, 0xff, 1}}
			if fmt.Sprint(p.localInt) != fmt.Sprint(wantLocal) {
				t.Errorf("local interrupts % x", p.localInt)
			}
		})
	}
}

func TestMPTableRejects(t *testing.T) {
	mem := newLowMem(t)
	for _, n := range []int{-1, 0, MaxCPUs + 1} {
		if err := WriteMPTable(mem, n); !errors.Is(err, ErrCPUCount) {
			t.Errorf("WriteMPTable(%d) = %v", n, err)
		}
	}
	small := newMemRanges(t, rangeOf(0, 0x9fc00+100))
	if err := WriteMPTable(small, 1); err == nil {
		t.Error("MP table written past the end of RAM")
	}
}
