// Package vmm builds a microVM from a Config and runs it until it stops.
//
//	exit, err := vmm.Run(ctx, vmm.Config{
//		Kernel:  "vmlinux",            // ELF, loaded by package boot
//		Initrd:  "initramfs.cpio",
//		Cmdline: "console=ttyS0 reboot=k panic=-1",
//		MemMiB:  256, CPUs: 2,
//		Console: os.Stdout,
//	})
//	if err != nil { ... }              // the VM could not be built
//	fmt.Println(exit.Reason, exit.Message)
//	os.Exit(exit.ExitCode())
//
// vmm is the only package that knows both KVM and the devices: it opens
// /dev/kvm (package kvm), creates guest RAM (guestmem) split around the MMIO
// gap, writes the boot structures (boot), puts the devices on the port-I/O and
// MMIO buses (devices/...), wires interrupts through irqfd, and runs one
// goroutine per vCPU locked to its OS thread. Every stop has a Reason; the
// first one wins and stops all vCPUs.
package vmm
