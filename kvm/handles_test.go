package kvm

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests run the wrappers against /dev/null, which answers every ioctl
// with ENOTTY: they check each method issues its ioctl (a size mismatch
// between mirror and ioctl number would give EINVAL before the kernel is
// asked) and wraps the errno under the right name. No KVM needed.

func openNull(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no /dev/null: %v", err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

func wantIoctlErr(t *testing.T, op string, err error) {
	t.Helper()
	var ke *Error
	if !errors.As(err, &ke) {
		t.Errorf("%s: error %v (%T) is not a *kvm.Error", op, err, err)
		return
	}
	if ke.Op != op || !errors.Is(err, unix.ENOTTY) {
		t.Errorf("%s: got Op %q errno %v (%v)", op, ke.Op, ke.Errno, err)
	}
	if want := op + ": " + unix.ENOTTY.Error(); err.Error() != want {
		t.Errorf("%s: Error() = %q, want %q", op, err.Error(), want)
	}
}

func TestSystemOnNonKVMFile(t *testing.T) {
	s, err := Open("/dev/null")
	if err != nil {
		t.Skipf("no /dev/null: %v", err)
	}
	defer s.Close()
	_, err = s.APIVersion()
	wantIoctlErr(t, "KVM_GET_API_VERSION", err)
	_, err = s.CheckExtension(CapIRQChip)
	wantIoctlErr(t, "KVM_CHECK_EXTENSION", err)
	_, err = s.VCPUMmapSize()
	wantIoctlErr(t, "KVM_GET_VCPU_MMAP_SIZE", err)
	_, err = s.SupportedCPUID()
	wantIoctlErr(t, "KVM_GET_SUPPORTED_CPUID", err)
	_, err = s.MSRIndexList()
	wantIoctlErr(t, "KVM_GET_MSR_INDEX_LIST", err)
	_, err = s.CreateVM()
	wantIoctlErr(t, "KVM_CREATE_VM", err)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.APIVersion(); !errors.Is(err, ErrClosed) {
		t.Fatalf("APIVersion after Close: %v", err)
	}
}

func TestVMOnNonKVMFile(t *testing.T) {
	v := &VM{fd: openNull(t)}
	_, err := v.CheckExtension(CapIRQChip)
	wantIoctlErr(t, "KVM_CHECK_EXTENSION", err)
	wantIoctlErr(t, "KVM_SET_USER_MEMORY_REGION", v.SetUserMemoryRegion(0, 0, make([]byte, 4096), 0))
	wantIoctlErr(t, "KVM_SET_TSS_ADDR", v.SetTSSAddr(0xfffbd000))
	wantIoctlErr(t, "KVM_SET_IDENTITY_MAP_ADDR", v.SetIdentityMapAddr(0xfffbc000))
	wantIoctlErr(t, "KVM_CREATE_IRQCHIP", v.CreateIRQChip())
	wantIoctlErr(t, "KVM_CREATE_PIT2", v.CreatePIT2())
	wantIoctlErr(t, "KVM_IRQ_LINE", v.IRQLine(4, 1))
	wantIoctlErr(t, "KVM_IRQFD", v.RegisterIRQFD(0, 5))
	wantIoctlErr(t, "KVM_IRQFD", v.UnregisterIRQFD(0, 5))
	wantIoctlErr(t, "KVM_IOEVENTFD", v.RegisterIOEventFD(IOEventFD{FD: 0, Addr: 0xc0001050, Len: 4}))
	wantIoctlErr(t, "KVM_IOEVENTFD", v.UnregisterIOEventFD(IOEventFD{FD: 0, Addr: 0x60, Len: 1, PIO: true}))
	_, err = v.GetClock()
	wantIoctlErr(t, "KVM_GET_CLOCK", err)
	wantIoctlErr(t, "KVM_SET_CLOCK", v.SetClock(&ClockData{}))
	_, err = v.CreateVCPU(0, 3*4096)
	wantIoctlErr(t, "KVM_CREATE_VCPU", err)

	if _, err := v.CreateVCPU(0, 100); err == nil {
		t.Error("CreateVCPU with a 100-byte mapping succeeded")
	}
	if _, err := v.CreateVCPU(-1, 4096); err == nil {
		t.Error("CreateVCPU(-1) succeeded")
	}
	if err := v.RegisterIRQFD(-1, 5); !errors.Is(err, unix.EBADF) {
		t.Errorf("RegisterIRQFD(-1): %v", err)
	}
	if err := v.RegisterIOEventFD(IOEventFD{FD: 0, Len: 3}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("RegisterIOEventFD(len 3): %v", err)
	}
	v.fd = -1
	if err := v.CreateIRQChip(); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateIRQChip on closed VM: %v", err)
	}
}

func TestIOEventFDFlags(t *testing.T) {
	for _, c := range []struct {
		e     IOEventFD
		extra uint32
		want  uint32
	}{
		{IOEventFD{FD: 3, Len: 4}, 0, 0},
		{IOEventFD{FD: 3, Len: 2, PIO: true}, 0, _KVM_IOEVENTFD_FLAG_PIO},
		{IOEventFD{FD: 3, Len: 4, HasDatamatch: true, Datamatch: 2}, 0, _KVM_IOEVENTFD_FLAG_DATAMATCH},
		{IOEventFD{FD: 3, Len: 1, PIO: true, HasDatamatch: true}, _KVM_IOEVENTFD_FLAG_DEASSIGN,
			_KVM_IOEVENTFD_FLAG_PIO | _KVM_IOEVENTFD_FLAG_DATAMATCH | _KVM_IOEVENTFD_FLAG_DEASSIGN},
	} {
		m, err := c.e.mirror(c.extra)
		if err != nil {
			t.Fatal(err)
		}
		if m.Flags != c.want || m.FD != int32(c.e.FD) || m.Len != c.e.Len || m.Datamatch != c.e.Datamatch {
			t.Errorf("%+v: mirror %+v, want flags %#x", c.e, m, c.want)
		}
	}
}

func TestVCPUOnNonKVMFile(t *testing.T) {
	c := &VCPU{fd: openNull(t), run: NewRun(make([]byte, testPage))}
	if e := c.Run(); e != unix.ENOTTY {
		t.Errorf("Run() = %v, want ENOTTY", e)
	}
	_, err := c.GetRegs()
	wantIoctlErr(t, "KVM_GET_REGS", err)
	wantIoctlErr(t, "KVM_SET_REGS", c.SetRegs(&Regs{}))
	_, err = c.GetSregs()
	wantIoctlErr(t, "KVM_GET_SREGS", err)
	wantIoctlErr(t, "KVM_SET_SREGS", c.SetSregs(&Sregs{}))
	_, err = c.GetFPU()
	wantIoctlErr(t, "KVM_GET_FPU", err)
	wantIoctlErr(t, "KVM_SET_FPU", c.SetFPU(&FPU{}))
	wantIoctlErr(t, "KVM_SET_CPUID2", c.SetCPUID2([]CPUIDEntry{{Function: 0}}))
	_, err = c.GetMSRs([]uint32{0x10})
	wantIoctlErr(t, "KVM_GET_MSRS", err)
	wantIoctlErr(t, "KVM_SET_MSRS", c.SetMSRs([]MSREntry{{Index: 0x10}}))
	_, err = c.GetLAPIC()
	wantIoctlErr(t, "KVM_GET_LAPIC", err)
	wantIoctlErr(t, "KVM_SET_LAPIC", c.SetLAPIC(&LAPICState{}))
	_, err = c.GetVCPUEvents()
	wantIoctlErr(t, "KVM_GET_VCPU_EVENTS", err)
	wantIoctlErr(t, "KVM_SET_VCPU_EVENTS", c.SetVCPUEvents(&VCPUEvents{}))
	_, err = c.GetMPState()
	wantIoctlErr(t, "KVM_GET_MP_STATE", err)
	wantIoctlErr(t, "KVM_SET_MP_STATE", c.SetMPState(MPStateRunnable))
	if err := c.SetCPUID2(make([]CPUIDEntry, 257)); !errors.Is(err, unix.E2BIG) {
		t.Errorf("SetCPUID2(257 entries): %v", err)
	}
}

func TestVCPURunDoesNotAllocate(t *testing.T) {
	c := &VCPU{fd: openNull(t), run: NewRun(make([]byte, testPage))}
	allocs := testing.AllocsPerRun(100, func() {
		if e := c.Run(); e != unix.ENOTTY {
			t.Fatalf("Run() = %v", e)
		}
	})
	if allocs != 0 {
		t.Errorf("Run allocates %v times per call", allocs)
	}
}

func TestVCPUCloseIdempotent(t *testing.T) {
	fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skip(err)
	}
	mem, err := unix.Mmap(-1, 0, testPage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	c := &VCPU{fd: fd, id: 3, mem: mem, run: NewRun(mem)}
	if c.ID() != 3 {
		t.Errorf("ID() = %d", c.ID())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c.RunData().ExitReason() != 0 {
		t.Error("RunData after Close is not empty")
	}
	if e := c.Run(); e != unix.EBADF {
		t.Errorf("Run after Close = %v, want EBADF", e)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "kvm"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing device: %v, want fs.ErrNotExist", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "open" || !strings.HasSuffix(pe.Path, "/kvm") {
		t.Errorf("error %#v is not the open PathError", err)
	}
	if unix.Geteuid() != 0 {
		p := filepath.Join(t.TempDir(), "kvm")
		if err := unix.Mknod(p, unix.S_IFREG|0o000, 0); err != nil {
			t.Skip(err)
		}
		if _, err := Open(p); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("unreadable device: %v, want fs.ErrPermission", err)
		}
	}
}

func TestErrors(t *testing.T) {
	var err error = &Error{Op: "KVM_SET_SREGS", Errno: unix.EINVAL}
	if err.Error() != "KVM_SET_SREGS: invalid argument" {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EINTR) {
		t.Error("errors.Is does not see the errno")
	}
	if wrap("KVM_RUN", 0) != nil {
		t.Error("wrap(0) is not nil")
	}
	if !errors.Is(wrap("KVM_RUN", unix.EINTR), unix.EINTR) {
		t.Error("wrap(EINTR) is not EINTR")
	}
	me := &MSRError{Op: "KVM_SET_MSRS", Index: 0xc0000081, Done: 1, Total: 3}
	if got := me.Error(); got != "KVM_SET_MSRS: MSR 0xc0000081 not written (1 of 3 written)" {
		t.Errorf("MSRError = %q", got)
	}
}

func TestBuffers(t *testing.T) {
	in := []CPUIDEntry{
		{Function: 0, EAX: 0xd, EBX: 0x756e6547},
		{Function: 7, Index: 1, Flags: CPUIDFlagSignificantIndex, ECX: 5, EDX: 6},
	}
	buf := encodeCPUID2(in)
	if len(buf) != 8+2*40 || le.Uint32(buf) != 2 || le.Uint32(buf[8+40+4:]) != 1 {
		t.Fatalf("encodeCPUID2 layout: % x", buf[:16])
	}
	out, err := decodeCPUID2(buf)
	if err != nil || len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	le.PutUint32(buf, 3)
	if _, err := decodeCPUID2(buf); err == nil {
		t.Error("nent past the buffer accepted")
	}
	if _, err := decodeCPUID2(buf[:4]); err == nil {
		t.Error("short kvm_cpuid2 accepted")
	}

	mb := encodeMSRs([]MSREntry{{Index: 0x174, Data: 8}, {Index: 0xc0000080, Data: 0x500}})
	if len(mb) != 8+2*16 || le.Uint32(mb) != 2 || le.Uint32(mb[8+16:]) != 0xc0000080 || le.Uint64(mb[8+16+8:]) != 0x500 {
		t.Fatalf("encodeMSRs layout: % x", mb)
	}
	if got := decodeMSRs(mb, 5); len(got) != 2 || got[1].Data != 0x500 {
		t.Errorf("decodeMSRs clamps: %+v", got)
	}
	if got := decodeMSRs(mb, -1); len(got) != 0 {
		t.Errorf("decodeMSRs(-1): %+v", got)
	}

	lb := make([]byte, 4+3*4)
	le.PutUint32(lb, 2)
	le.PutUint32(lb[4:], 0x10)
	le.PutUint32(lb[8:], 0x174)
	if got, err := decodeMSRList(lb); err != nil || len(got) != 2 || got[1] != 0x174 {
		t.Errorf("decodeMSRList: %v, %v", got, err)
	}
	le.PutUint32(lb, 4)
	if _, err := decodeMSRList(lb); err == nil {
		t.Error("nmsrs past the buffer accepted")
	}
}
