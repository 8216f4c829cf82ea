// Package bench runs hull's benchmarks against their baselines in one
// invocation, so every figure is a ratio measured side by side on the same
// host (`hull bench`).
//
//	r, err := bench.RunBoot(ctx, bench.BootOptions{
//		Hull:   "/usr/local/bin/hull",        // `hull vm boot` is run as a child process
//		QEMU:   "qemu-system-x86_64",         // "" with NoQEMU: hull alone
//		Kernel: "vmlinux", Initrd: "hello.cpio",
//		Runs:   10, Marker: "hello-init:",
//	})
//	r.Format(os.Stdout)                       // P50/min/max table, hull/QEMU ratio
//
//	x, err := bench.RunIOExit(ctx, bench.IOExitOptions{
//		Hull: hullPath, Guest: "tests/guest/build/ioloop.elf", N: 200000,
//		CBaseline: "tests/bench/build/ioexit",
//	})
//	x.Format(os.Stdout)                       // ns per I/O exit, hull/C ratio
//
// Every VM is a separate `hull vm boot` process: the boot benchmark times the
// spawn to the guest's marker line on stdout and to process exit, and reads
// the child's --timeline-json for process start → first KVM_RUN and the
// VMM's memory; the I/O-exit benchmark takes first KVM_RUN → stopped from the
// same file for n exits and for none, and subtracts.
package bench
