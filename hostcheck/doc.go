// Package hostcheck is what `hull check` reports: whether this host can run
// hull's microVMs, and if not, why.
//
//	r := hostcheck.Run(hostcheck.Options{})
//	if err := r.Format(os.Stdout); err != nil {
//		return err
//	}
//	os.Exit(r.ExitCode()) // 0 healthy, 1 no or broken KVM, 2 emulated
//
// Besides /dev/kvm, the API version, the capabilities hull needs and the
// optional device files, Run starts two tiny 64-bit guests in VMs of their
// own (well under 2 s together, even on a slow host):
//
//   - the same counting loop at CPL0 and at CPL3. On a healthy host both run
//     natively; on a PVM-like host guest kernel code is emulated, about a
//     thousand times slower (DESIGN.md §4).
//   - SYSCALL from CPL3 to a supervisor-only LSTAR page that writes to an I/O
//     port. Where SYSCALL stays at CPL3 the fetch at LSTAR faults instead, and
//     Linux guests cannot run 64-bit user space.
//
// The verdict, its one-line explanation and the exit code follow from those
// numbers (decide, in verdict.go, is pure and table-tested).
package hostcheck
