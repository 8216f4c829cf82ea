package kvm

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

const testPage = 4096

func synthPage(reason uint32) []byte {
	p := make([]byte, testPage)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_exit_reason:], reason)
	return p
}

func ioPage(dir, size uint8, port uint16, count uint32, off uint64) []byte {
	p := synthPage(ExitIO)
	p[_KVM_RUN_io_direction] = dir
	p[_KVM_RUN_io_size] = size
	binary.LittleEndian.PutUint16(p[_KVM_RUN_io_port:], port)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_io_count:], count)
	binary.LittleEndian.PutUint64(p[_KVM_RUN_io_data_offset:], off)
	return p
}

func TestRunIO(t *testing.T) {
	p := ioPage(ExitIOOut, 2, 0x3f8, 3, 0x800)
	copy(p[0x800:], []byte{1, 2, 3, 4, 5, 6, 7})
	r := NewRun(p)
	if r.ExitReason() != ExitIO {
		t.Fatalf("ExitReason = %d", r.ExitReason())
	}
	io, err := r.IO()
	if err != nil {
		t.Fatal(err)
	}
	if io.Direction != ExitIOOut || io.Size != 2 || io.Port != 0x3f8 || io.Count != 3 || string(io.Data) != "\x01\x02\x03\x04\x05\x06" {
		t.Fatalf("IO() = %+v", io)
	}
	if cap(io.Data) != 6 {
		t.Errorf("cap(Data) = %d, want 6 (no access past the element data)", cap(io.Data))
	}
	// Data aliases the page: an IN is answered by filling it.
	in := ioPage(ExitIOIn, 1, 0x60, 1, testPage-1)
	io, err = NewRun(in).IO()
	if err != nil {
		t.Fatal(err)
	}
	io.Data[0] = 0xfa
	if in[testPage-1] != 0xfa {
		t.Error("IO().Data does not alias the run page")
	}
}

func TestRunIOHostile(t *testing.T) {
	for _, c := range []struct {
		name string
		page []byte
	}{
		{"offset at end", ioPage(ExitIOOut, 1, 1, 1, testPage)},
		{"offset past page", ioPage(ExitIOOut, 1, 1, 1, 1<<40)},
		{"offset wraps", ioPage(ExitIOOut, 4, 1, 1, ^uint64(0)-1)},
		{"last element crosses end", ioPage(ExitIOOut, 4, 1, 2, testPage-6)},
		{"huge count", ioPage(ExitIOOut, 4, 1, 0xffffffff, 0x100)},
		{"size*count past page", ioPage(ExitIOIn, 2, 1, 0x7fffffff, 0)},
		{"size 0", ioPage(ExitIOOut, 0, 1, 1, 0x100)},
		{"size 3", ioPage(ExitIOOut, 3, 1, 1, 0x100)},
		{"size 8", ioPage(ExitIOOut, 8, 1, 1, 0x100)},
		{"size 255", ioPage(ExitIOOut, 255, 1, 1, 0x100)},
		{"count 0", ioPage(ExitIOOut, 1, 1, 0, 0x100)},
		{"direction 2", ioPage(2, 1, 1, 1, 0x100)},
		{"short page", ioPage(ExitIOOut, 1, 1, 1, 0x10)[:40]},
		{"empty page", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			io, err := NewRun(c.page).IO()
			if err == nil {
				t.Fatalf("IO() = %+v, want an error", io)
			}
			if !errors.Is(err, ErrRunData) {
				t.Errorf("error %v does not wrap ErrRunData", err)
			}
		})
	}
}

func mmioPage(addr uint64, data []byte, n uint32, write bool) []byte {
	p := synthPage(ExitMMIO)
	binary.LittleEndian.PutUint64(p[_KVM_RUN_mmio_phys_addr:], addr)
	copy(p[_KVM_RUN_mmio_data:_KVM_RUN_mmio_data+8], data)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_mmio_len:], n)
	if write {
		p[_KVM_RUN_mmio_is_write] = 1
	}
	return p
}

func TestRunMMIO(t *testing.T) {
	m, err := NewRun(mmioPage(0xc0001000, []byte{0xaa, 0xbb, 0xcc, 0xdd}, 4, true)).MMIO()
	if err != nil {
		t.Fatal(err)
	}
	if m.PhysAddr != 0xc0001000 || !m.IsWrite || string(m.Data) != "\xaa\xbb\xcc\xdd" || cap(m.Data) != 4 {
		t.Fatalf("MMIO() = %+v", m)
	}
	p := mmioPage(0xfee00000, nil, 8, false)
	m, err = NewRun(p).MMIO()
	if err != nil || m.IsWrite || len(m.Data) != 8 {
		t.Fatalf("MMIO() = %+v, %v", m, err)
	}
	m.Data[7] = 0x5a
	if p[_KVM_RUN_mmio_data+7] != 0x5a {
		t.Error("MMIO().Data does not alias the run page")
	}
	for _, n := range []uint32{0, 9, 16, 0xffffffff} {
		if m, err := NewRun(mmioPage(0, nil, n, false)).MMIO(); !errors.Is(err, ErrRunData) {
			t.Errorf("len %d: MMIO() = %+v, %v; want ErrRunData", n, m, err)
		}
	}
	if _, err := NewRun(make([]byte, 50)).MMIO(); !errors.Is(err, ErrRunData) {
		t.Errorf("short page: %v", err)
	}
}

func TestRunInternalErrorAndSystemEvent(t *testing.T) {
	p := synthPage(ExitInternalError)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_internal_suberror:], InternalErrorEmulation)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_internal_ndata:], 2)
	binary.LittleEndian.PutUint64(p[_KVM_RUN_internal_data:], 0x11)
	binary.LittleEndian.PutUint64(p[_KVM_RUN_internal_data+8:], 0x22)
	ie := NewRun(p).InternalError()
	if ie.Suberror != InternalErrorEmulation || len(ie.Data) != 2 || ie.Data[0] != 0x11 || ie.Data[1] != 0x22 {
		t.Fatalf("InternalError() = %+v", ie)
	}
	binary.LittleEndian.PutUint32(p[_KVM_RUN_internal_ndata:], 0xffffffff)
	if ie := NewRun(p).InternalError(); len(ie.Data) != 16 {
		t.Errorf("ndata 0xffffffff: %d entries, want 16", len(ie.Data))
	}
	if ie := NewRun(p[:_KVM_RUN_internal_data+20]).InternalError(); len(ie.Data) != 2 {
		t.Errorf("short page: %d entries, want the 2 that fit", len(ie.Data))
	}
	if ie := NewRun(p[:10]).InternalError(); len(ie.Data) != 0 || ie.Suberror != 0 {
		t.Errorf("tiny page: %+v", ie)
	}

	p = synthPage(ExitSystemEvent)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_system_event_type:], SystemEventReset)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_system_event_ndata:], 1)
	binary.LittleEndian.PutUint64(p[_KVM_RUN_system_event_data:], 7)
	se := NewRun(p).SystemEvent()
	if se.Type != SystemEventReset || len(se.Data) != 1 || se.Data[0] != 7 {
		t.Fatalf("SystemEvent() = %+v", se)
	}
	binary.LittleEndian.PutUint32(p[_KVM_RUN_system_event_ndata:], 17)
	if se := NewRun(p).SystemEvent(); len(se.Data) != 16 {
		t.Errorf("ndata 17: %d entries", len(se.Data))
	}
}

func TestRunFailEntry(t *testing.T) {
	p := synthPage(ExitFailEntry)
	binary.LittleEndian.PutUint64(p[_KVM_RUN_fail_entry_reason:], 0x80000021)
	binary.LittleEndian.PutUint32(p[_KVM_RUN_fail_entry_cpu:], 3)
	if reason, cpu := NewRun(p).FailEntry(); reason != 0x80000021 || cpu != 3 {
		t.Fatalf("FailEntry() = %#x, %d", reason, cpu)
	}
	if reason, cpu := NewRun(p[:36]).FailEntry(); reason != 0 || cpu != 0 {
		t.Fatalf("short page: FailEntry() = %#x, %d", reason, cpu)
	}
}

func TestRunShortPages(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 9, 12} {
		r := NewRun(make([]byte, n))
		_ = r.ExitReason()
		r.SetImmediateExit(true)
		_ = r.ImmediateExit()
		_ = r.InternalError()
		_ = r.SystemEvent()
		_, _ = r.FailEntry()
		if _, err := r.IO(); err == nil {
			t.Errorf("%d-byte page: IO() succeeded", n)
		}
		if _, err := r.MMIO(); err == nil {
			t.Errorf("%d-byte page: MMIO() succeeded", n)
		}
	}
	if NewRun(make([]byte, 12)).ExitReason() != 0 || NewRun(make([]byte, 11)).ExitReason() != 0 {
		t.Error("short page ExitReason not 0")
	}
}

func TestSetImmediateExit(t *testing.T) {
	p := synthPage(ExitIntr)
	p[0] = 1          // request_interrupt_window
	p[2], p[3] = 7, 9 // padding must survive too
	r := NewRun(p)
	if r.word == nil {
		t.Fatal("aligned page has no atomic word")
	}
	r.SetImmediateExit(true)
	if p[1] != 1 || p[0] != 1 || p[2] != 7 || p[3] != 9 || !r.ImmediateExit() {
		t.Fatalf("after SetImmediateExit(true): % x", p[:4])
	}
	r.SetImmediateExit(false)
	if p[1] != 0 || p[0] != 1 || p[2] != 7 || r.ImmediateExit() {
		t.Fatalf("after SetImmediateExit(false): % x", p[:4])
	}
	// Misaligned synthetic pages fall back to a plain store.
	q := make([]byte, testPage+1)[1:]
	rq := NewRun(q)
	rq.SetImmediateExit(true)
	if q[1] != 1 || !rq.ImmediateExit() {
		t.Fatalf("misaligned: % x", q[:4])
	}
}

// TestSetImmediateExitConcurrent runs under -race: the kick comes from other
// goroutines while the vCPU side reads exit data.
func TestSetImmediateExitConcurrent(t *testing.T) {
	r := NewRun(ioPage(ExitIOOut, 1, 0x80, 1, 0x400))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(on bool) {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				r.SetImmediateExit(on)
			}
		}(i%2 == 0)
	}
	for j := 0; j < 1000; j++ {
		if r.ExitReason() != ExitIO {
			t.Fatal("exit reason changed")
		}
		_ = r.ImmediateExit()
	}
	wg.Wait()
	r.SetImmediateExit(false)
	if r.ImmediateExit() {
		t.Fatal("immediate_exit still set")
	}
}

func TestRunHotPathAllocs(t *testing.T) {
	r := NewRun(ioPage(ExitIOOut, 1, 0x3f8, 1, 0x400))
	allocs := testing.AllocsPerRun(100, func() {
		r.SetImmediateExit(false)
		if r.ExitReason() != ExitIO {
			t.Fatal("bad reason")
		}
		if io, err := r.IO(); err != nil || len(io.Data) != 1 {
			t.Fatal("bad io")
		}
	})
	if allocs != 0 {
		t.Errorf("exit decoding allocates %v times per exit", allocs)
	}
}

// FuzzRunIO: whatever the io fields and page length, IO never panics and a
// successful result lies inside the page with the advertised length.
func FuzzRunIO(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint16(0x3f8), uint32(1), uint64(0x400), uint16(testPage))
	f.Add(uint8(0), uint8(4), uint16(0x80), uint32(0xffffffff), uint64(0), uint16(testPage))
	f.Add(uint8(1), uint8(2), uint16(0), uint32(2), ^uint64(0), uint16(100))
	f.Add(uint8(1), uint8(4), uint16(0), uint32(1), uint64(testPage-4), uint16(testPage))
	f.Fuzz(func(t *testing.T, dir, size uint8, port uint16, count uint32, off uint64, n uint16) {
		p := ioPage(dir, size, port, count, off)
		if int(n) < len(p) {
			p = p[:n]
		}
		io, err := NewRun(p).IO()
		if err != nil {
			return
		}
		if uint64(len(io.Data)) != uint64(io.Size)*uint64(io.Count) || io.Count == 0 {
			t.Fatalf("len(Data) = %d for size %d count %d", len(io.Data), io.Size, io.Count)
		}
		if off+uint64(len(io.Data)) > uint64(len(p)) || off > uint64(len(p)) {
			t.Fatalf("Data [%#x,+%d) outside %d-byte page", off, len(io.Data), len(p))
		}
		if len(io.Data) > 0 && &io.Data[0] != &p[off] {
			t.Fatal("Data is not at data_offset")
		}
	})
}
