package kvm

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/internal/testtier"
)

// Tests in this file need a working /dev/kvm (the kvm tier: a healthy host
// or the nested runner). Without one they skip with one line, or fail when
// HULL_REQUIRE_KVM=1.

const (
	guestMemSize = 2 << 20
	guestCodeAt  = 0x1000
)

// testVM is a VM with 2 MiB of memory at guest-physical 0 and one vCPU in
// real mode at CS:IP = 0:0x1000, running code.
type testVM struct {
	sys *System
	vm  *VM
	cpu *VCPU
	mem []byte
}

func newTestVM(t testing.TB, code []byte) *testVM {
	t.Helper()
	testtier.RequireKVM(t)
	sys, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	tv := &testVM{sys: sys}
	t.Cleanup(func() {
		if tv.cpu != nil {
			if err := tv.cpu.Close(); err != nil {
				t.Error(err)
			}
		}
		if tv.vm != nil {
			if err := tv.vm.Close(); err != nil {
				t.Error(err)
			}
		}
		if tv.mem != nil {
			if err := unix.Munmap(tv.mem); err != nil {
				t.Error(err)
			}
		}
		if err := sys.Close(); err != nil {
			t.Error(err)
		}
	})
	if tv.vm, err = sys.CreateVM(); err != nil {
		t.Fatal(err)
	}
	if tv.mem, err = unix.Mmap(-1, 0, guestMemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		t.Fatal(err)
	}
	copy(tv.mem[guestCodeAt:], code)
	if err := tv.vm.SetTSSAddr(0xfffbd000); err != nil { // Intel real mode needs it; a no-op on AMD
		t.Fatal(err)
	}
	if err := tv.vm.SetUserMemoryRegion(0, 0, tv.mem, 0); err != nil {
		t.Fatal(err)
	}
	size, err := sys.VCPUMmapSize()
	if err != nil {
		t.Fatal(err)
	}
	if tv.cpu, err = tv.vm.CreateVCPU(0, size); err != nil {
		t.Fatal(err)
	}
	sregs, err := tv.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	sregs.CS.Base, sregs.CS.Selector = 0, 0
	if err := tv.cpu.SetSregs(&sregs); err != nil {
		t.Fatal(err)
	}
	regs := Regs{RIP: guestCodeAt, RFLAGS: 2}
	if err := tv.cpu.SetRegs(&regs); err != nil {
		t.Fatal(err)
	}
	return tv
}

// run enters the guest until an exit, retrying EINTR/EAGAIN, and returns the
// exit reason.
func (tv *testVM) run(t testing.TB) uint32 {
	t.Helper()
	for {
		switch e := tv.cpu.Run(); e {
		case 0:
			return tv.cpu.RunData().ExitReason()
		case unix.EINTR, unix.EAGAIN:
			continue
		default:
			t.Fatalf("KVM_RUN: %v", e)
		}
	}
}

func (tv *testVM) wantIO(t *testing.T, dir uint8, port uint16, size uint8) IOExit {
	t.Helper()
	if r := tv.run(t); r != ExitIO {
		regs, _ := tv.cpu.GetRegs()
		t.Fatalf("exit %s, want KVM_EXIT_IO (rip %#x)", ExitName(r), regs.RIP)
	}
	io, err := tv.cpu.RunData().IO()
	if err != nil {
		t.Fatal(err)
	}
	if io.Direction != dir || io.Port != port || io.Size != size || io.Count != 1 || len(io.Data) != int(size) {
		t.Fatalf("IO exit %+v, want dir %d port %#x size %d", io, dir, port, size)
	}
	return io
}

func TestKVMAPIVersion(t *testing.T) {
	testtier.RequireKVM(t)
	sys, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	v, err := sys.APIVersion()
	if err != nil || v != _KVM_API_VERSION {
		t.Fatalf("APIVersion() = %d, %v; want 12", v, err)
	}
	for _, c := range []Cap{CapUserMemory, CapIRQChip, CapExtCPUID} {
		if n, err := sys.CheckExtension(c); err != nil || n == 0 {
			t.Errorf("CheckExtension(%v) = %d, %v", c, n, err)
		}
	}
	size, err := sys.VCPUMmapSize()
	if err != nil || size < minRunSize {
		t.Errorf("VCPUMmapSize() = %d, %v", size, err)
	}
	cpuid, err := sys.SupportedCPUID()
	if err != nil || len(cpuid) == 0 || cpuid[0].Function != 0 {
		t.Errorf("SupportedCPUID() = %d entries, %v", len(cpuid), err)
	}
	msrs, err := sys.MSRIndexList()
	if err != nil || len(msrs) == 0 {
		t.Errorf("MSRIndexList() = %d indices, %v", len(msrs), err)
	}
}

// TestKVMRealModeIO runs a real-mode guest: out of a byte and a word, an in
// answered through IO().Data and echoed back, then hlt.
func TestKVMRealModeIO(t *testing.T) {
	tv := newTestVM(t, []byte{
		0xb0, 0x42, // mov al, 0x42
		0xe6, 0x10, // out 0x10, al
		0xb8, 0x34, 0x12, // mov ax, 0x1234
		0xe7, 0x11, // out 0x11, ax
		0xe4, 0x12, // in al, 0x12
		0xe6, 0x13, // out 0x13, al
		0xf4, // hlt
	})
	if io := tv.wantIO(t, ExitIOOut, 0x10, 1); io.Data[0] != 0x42 {
		t.Errorf("out 0x10: % x", io.Data)
	}
	if io := tv.wantIO(t, ExitIOOut, 0x11, 2); io.Data[0] != 0x34 || io.Data[1] != 0x12 {
		t.Errorf("out 0x11: % x", io.Data)
	}
	io := tv.wantIO(t, ExitIOIn, 0x12, 1)
	io.Data[0] = 0x99
	if io := tv.wantIO(t, ExitIOOut, 0x13, 1); io.Data[0] != 0x99 {
		t.Errorf("echo of the in value: % x, want 99", io.Data)
	}
	if r := tv.run(t); r != ExitHLT {
		t.Fatalf("exit %s, want KVM_EXIT_HLT", ExitName(r))
	}
	regs, err := tv.cpu.GetRegs()
	if err != nil {
		t.Fatal(err)
	}
	if regs.RIP != guestCodeAt+14 || regs.RAX&0xffff != 0x1299 {
		t.Errorf("after hlt: rip %#x rax %#x", regs.RIP, regs.RAX)
	}
}

func TestKVMImmediateExit(t *testing.T) {
	tv := newTestVM(t, []byte{0xf4})
	if n, _ := tv.sys.CheckExtension(CapImmediateExit); n == 0 {
		t.Skip("no KVM_CAP_IMMEDIATE_EXIT")
	}
	run := tv.cpu.RunData()
	run.SetImmediateExit(true)
	if e := tv.cpu.Run(); e != unix.EINTR {
		t.Fatalf("Run with immediate_exit = %v, want EINTR", e)
	}
	run.SetImmediateExit(false)
	if r := tv.run(t); r != ExitHLT {
		t.Fatalf("exit %s, want KVM_EXIT_HLT", ExitName(r))
	}
}

func TestKVMVCPUState(t *testing.T) {
	tv := newTestVM(t, []byte{0xf4})
	fpu, err := tv.cpu.GetFPU()
	if err != nil {
		t.Fatal(err)
	}
	fpu.FCW, fpu.MXCSR = 0x37f, 0x1f80
	if err := tv.cpu.SetFPU(&fpu); err != nil {
		t.Fatal(err)
	}
	// KVM_GET_FPU does not report MXCSR (the kernel never copies it out);
	// only FCW can be checked on the way back.
	if got, err := tv.cpu.GetFPU(); err != nil || got.FCW != 0x37f {
		t.Errorf("FPU round trip: fcw %#x, %v", got.FCW, err)
	}
	cpuid, err := tv.sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	if err := tv.cpu.SetCPUID2(cpuid); err != nil {
		t.Fatal(err)
	}
	const sysenterCS, sysenterESP = 0x174, 0x175
	if err := tv.cpu.SetMSRs([]MSREntry{{Index: sysenterCS, Data: 0x10}, {Index: sysenterESP, Data: 0x8000}}); err != nil {
		t.Fatal(err)
	}
	got, err := tv.cpu.GetMSRs([]uint32{sysenterCS, sysenterESP})
	if err != nil || len(got) != 2 || got[0].Data != 0x10 || got[1].Data != 0x8000 {
		t.Errorf("GetMSRs = %+v, %v", got, err)
	}
	var me *MSRError
	if err := tv.cpu.SetMSRs([]MSREntry{{Index: sysenterCS, Data: 0x10}, {Index: 0xdeadbeef, Data: 1}}); !errors.As(err, &me) || me.Index != 0xdeadbeef || me.Done != 1 {
		t.Errorf("SetMSRs with a bogus MSR: %v", err)
	}
	ev, err := tv.cpu.GetVCPUEvents()
	if err != nil {
		t.Fatal(err)
	}
	if err := tv.cpu.SetVCPUEvents(&ev); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.cpu.GetMPState(); err != nil {
		t.Fatal(err)
	}
	if err := tv.cpu.SetMPState(MPStateRunnable); err != nil {
		t.Fatal(err)
	}
	clock, err := tv.vm.GetClock()
	if err != nil {
		t.Fatal(err)
	}
	clock.Flags = 0
	if err := tv.vm.SetClock(&clock); err != nil {
		t.Fatal(err)
	}
}

func TestKVMIRQChipAndEventFDs(t *testing.T) {
	testtier.RequireKVM(t)
	sys, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if err := vm.SetIdentityMapAddr(0xfffbc000); err != nil {
		t.Fatal(err)
	}
	if err := vm.SetTSSAddr(0xfffbd000); err != nil {
		t.Fatal(err)
	}
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	if err := vm.CreatePIT2(); err != nil {
		t.Fatal(err)
	}
	if err := vm.IRQLine(4, 1); err != nil {
		t.Fatal(err)
	}
	if err := vm.IRQLine(4, 0); err != nil {
		t.Fatal(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := vm.RegisterIRQFD(efd, 5); err != nil {
		t.Fatal(err)
	}
	if err := vm.UnregisterIRQFD(efd, 5); err != nil {
		t.Fatal(err)
	}
	for _, e := range []IOEventFD{
		{FD: efd, Addr: 0xc0001050, Len: 4},
		{FD: efd, Addr: 0x510, Len: 2, PIO: true, HasDatamatch: true, Datamatch: 7},
	} {
		if err := vm.RegisterIOEventFD(e); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if err := vm.UnregisterIOEventFD(e); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
	}
	size, err := sys.VCPUMmapSize()
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := vm.CreateVCPU(0, size)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	lapic, err := cpu.GetLAPIC()
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetLAPIC(&lapic); err != nil {
		t.Fatal(err)
	}
	if n, err := vm.CheckExtension(CapMaxVCPUs); err != nil || n < 1 {
		t.Errorf("VM CheckExtension(CapMaxVCPUs) = %d, %v", n, err)
	}
}

// BenchmarkIOExitRoundTrip measures one KVM_RUN that ends in an IO exit: the
// guest loops on `out 0x10, al`.
func BenchmarkIOExitRoundTrip(b *testing.B) {
	tv := newTestVM(b, []byte{
		0xe6, 0x10, // l: out 0x10, al
		0xeb, 0xfc, // jmp l
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := tv.run(b); r != ExitIO {
			b.Fatalf("exit %s, want KVM_EXIT_IO", ExitName(r))
		}
	}
}
