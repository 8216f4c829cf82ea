package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hullvm/hull/hostcheck"
)

func init() {
	register(command{name: "check", summary: "report what this host offers hull: KVM, capabilities, native or emulated guest code", run: checkCmd})
}

func checkCmd(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	quiet := fs.Bool("quiet", false, "print only the verdict line")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noProbes := fs.Bool("no-probes", false, "skip the two tiny guest probes (CPL0 speed, SYSCALL from user mode)")
	kvmPath := fs.String("kvm", "/dev/kvm", "KVM device")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: hull check [--quiet] [--json] [--no-probes]

Probes /dev/kvm, the capabilities hull needs, whether guest kernel code runs
natively or is emulated, and whether SYSCALL works from guest user mode.
Exit status: 0 healthy KVM, 1 no or broken KVM, 2 KVM that emulates guest
kernel code (Linux guests cannot run there; use the nested runner).

flags:
`)
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "check: unexpected argument %q", fs.Arg(0))
	}
	r := hostcheck.Run(hostcheck.Options{KVMPath: *kvmPath, SkipProbes: *noProbes})
	switch {
	case *asJSON:
		b, err := r.JSON()
		if err != nil {
			return fail(exitError, "check: %v", err)
		}
		if _, err := os.Stdout.Write(append(b, '\n')); err != nil {
			return fail(exitError, "check: %v", err)
		}
	case *quiet:
		fmt.Println(r.VerdictLine())
	default:
		if err := r.Format(os.Stdout); err != nil {
			return fail(exitError, "check: %v", err)
		}
	}
	return r.ExitCode()
}
