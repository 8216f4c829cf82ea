// Package kvm wraps the Linux /dev/kvm ioctls for x86-64 in typed methods.
//
//	sys, err := kvm.Open("") // /dev/kvm
//	if err != nil {
//		return err // errors.Is(err, fs.ErrNotExist): no KVM on this host
//	}
//	defer sys.Close()
//	vm, err := sys.CreateVM()
//	...
//	mem, _ := unix.Mmap(-1, 0, 2<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
//	copy(mem[0x1000:], guestCode)
//	err = vm.SetUserMemoryRegion(0, 0, mem, 0)
//	size, _ := sys.VCPUMmapSize()
//	cpu, err := vm.CreateVCPU(0, size)
//	... cpu.SetSregs / cpu.SetRegs ...
//	for {
//		if errno := cpu.Run(); errno == unix.EINTR || errno == unix.EAGAIN {
//			continue
//		} else if errno != 0 {
//			return &kvm.Error{Op: "KVM_RUN", Errno: errno}
//		}
//		switch run := cpu.RunData(); run.ExitReason() {
//		case kvm.ExitIO:
//			io, err := run.IO() // Data is bounds-checked against the mapping
//			...
//		case kvm.ExitHLT:
//			return nil
//		}
//	}
//
// The package knows only the kernel ABI: the ioctl numbers and mirrored
// structs live in kvm_const.go and types_amd64.go under their kernel names,
// unsafe is confined to the *_unsafe.go files, and every failed ioctl is an
// *Error carrying the ioctl's name and the errno. Run is a view of the
// kvm_run area that never panics and never hands out a slice outside it,
// whatever the area holds, so exit handling can be tested with synthetic
// pages (NewRun). VCPU.Run does not allocate.
//
// Snapshots read and write the rest of the state through state.go: the
// XSAVE area (KVM_GET_XSAVE2 when KVM_CAP_XSAVE2 asks for more than 4096
// bytes), XCRs, debug registers, TSC frequency, the vCPU's CPUID, and the VM's
// in-kernel PIC, IOAPIC and PIT; GetMSRs and SetMSRs split long lists into
// the batches KVM takes.
package kvm
