package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hullvm/hull/internal/bench"
)

func init() {
	register(command{name: "bench", summary: "benchmarks beside their baselines (hull bench boot|ioexit|container|restore --help)", run: benchCmd})
}

func benchCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Println("usage: hull bench boot|ioexit|container|restore [flags]   (hull bench boot --help)")
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	switch args[0] {
	case "boot":
		return benchBoot(args[1:])
	case "ioexit":
		return benchIOExit(args[1:])
	case "container":
		return benchContainer(args[1:])
	case "restore":
		return benchRestore(args[1:])
	}
	return fail(exitUsage, "bench: unknown subcommand %q (known: boot, ioexit, container, restore)", args[0])
}

func benchBoot(args []string) int {
	fs := flag.NewFlagSet("bench boot", flag.ContinueOnError)
	var o bench.BootOptions
	fs.StringVar(&o.Kernel, "kernel", "", "guest kernel (ELF vmlinux, also given to QEMU)")
	fs.StringVar(&o.Initrd, "initrd", "", "initramfs whose /init prints the marker")
	fs.IntVar(&o.Runs, "runs", 10, "measured boots of each VMM, alternating")
	fs.IntVar(&o.Warmup, "warmup", 1, "unmeasured boots of each VMM first")
	fs.StringVar(&o.QEMU, "qemu", "", "QEMU to compare with (default: "+bench.DefaultQEMU+" from PATH, hull alone when missing)")
	fs.BoolVar(&o.NoQEMU, "no-qemu", false, "hull alone")
	fs.StringVar(&o.Marker, "marker", bench.DefaultMarker, "console text that marks the guest's /init running")
	fs.StringVar(&o.Cmdline, "cmdline", bench.DefaultBootCmdline, "kernel command line, the same for both")
	fs.IntVar(&o.CPUs, "cpus", 1, "vCPUs")
	fs.IntVar(&o.MemMiB, "mem", 256, "guest memory in MiB")
	fs.DurationVar(&o.Timeout, "timeout", bench.DefaultBootTimeout, "per boot; a boot that takes longer fails")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	benchUsage(fs, "boot --kernel VMLINUX --initrd INITRD", `Boots the guest alternately under hull (this executable's vm boot) and
QEMU microvm, same kernel, initrd and command line, and prints P50/min/max of
spawn -> marker line, spawn -> exit, process start -> first KVM_RUN and VMM
RSS - guest resident, and the hull/QEMU ratio. Exit status 1 if a boot failed.`)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	switch {
	case fs.NArg() > 0:
		return fail(exitUsage, "bench boot: unexpected argument %q", fs.Arg(0))
	case o.Kernel == "" || o.Initrd == "":
		return fail(exitUsage, "bench boot: --kernel and --initrd are required")
	case o.NoQEMU && o.QEMU != "":
		return fail(exitUsage, "bench boot: --qemu and --no-qemu exclude each other")
	}
	var err error
	if o.Hull, err = os.Executable(); err != nil {
		return fail(exitError, "bench boot: %v", err)
	}
	o.Progress = os.Stderr
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := bench.RunBoot(ctx, o)
	if rep != nil {
		if rc := benchOutput(rep, rep.Format, *jsonOut); rc != 0 {
			return rc
		}
	}
	if err != nil {
		return fail(exitError, "%v", err)
	}
	if n := rep.Failures(); n > 0 {
		return fail(exitError, "bench boot: %d boot(s) failed", n)
	}
	return 0
}

func benchIOExit(args []string) int {
	fs := flag.NewFlagSet("bench ioexit", flag.ContinueOnError)
	var o bench.IOExitOptions
	fs.StringVar(&o.Guest, "guest", "", "the ioloop test guest (tests/guest/build/ioloop.elf)")
	fs.IntVar(&o.N, "n", bench.DefaultIOExits, "I/O exits per measured run")
	fs.StringVar(&o.CBaseline, "c-baseline", "", "the C loop to compare with (tests/bench/build/ioexit)")
	fs.IntVar(&o.Rounds, "rounds", 1, "rounds of hull n, hull 0, C n; the report gives their P50")
	fs.DurationVar(&o.Timeout, "timeout", bench.DefaultIOExitTimeout, "per process")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	benchUsage(fs, "ioexit --guest ioloop.elf [--c-baseline ioexit]", `Runs the ioloop test guest under hull with n=N and n=0 (the difference of
their first KVM_RUN -> stopped spans over N is hull's I/O-exit round trip)
and the C loop with N, in one invocation, and prints ns/exit and the ratio.`)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 || o.Guest == "" || o.N <= 0 {
		return fail(exitUsage, "bench ioexit: --guest is required, --n must be positive, no arguments")
	}
	var err error
	if o.Hull, err = os.Executable(); err != nil {
		return fail(exitError, "bench ioexit: %v", err)
	}
	o.Progress = os.Stderr
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := bench.RunIOExit(ctx, o)
	if err != nil {
		return fail(exitError, "%v", err)
	}
	return benchOutput(rep, rep.Format, *jsonOut)
}

func benchContainer(args []string) int {
	fs := flag.NewFlagSet("bench container", flag.ContinueOnError)
	var o bench.ContainerOptions
	fs.StringVar(&o.Bundle, "bundle", "", "the OCI bundle `dir` that every runtime runs (default: a temporary one, the busybox from PATH running true)")
	fs.IntVar(&o.Runs, "runs", bench.DefaultContainerRuns, "measured containers of each runtime, alternating")
	fs.IntVar(&o.Warmup, "warmup", 1, "unmeasured containers of each runtime first")
	fs.StringVar(&o.Runc, "runc", "", "runc to compare with (default: "+bench.DefaultRunc+" from PATH, hull alone when missing)")
	fs.BoolVar(&o.NoRunc, "no-runc", false, "hull alone (same as leaving runc out of --sandboxes)")
	sandboxes := fs.String("sandboxes", bench.DefaultSandboxes, "what runs, a comma-separated `list` of: vm (hull's vm sandbox, its VMs restored from a template; skipped with one line where KVM or the guest image is missing), vm-boot (the same, each VM booted: a copy of the bundle with hull.vm.template=false), process (hull's process sandbox), runc")
	fs.StringVar(&o.Mode, "mode", bench.ContainerModeRun, "`mode`: run (one run call per container) or lifecycle (separate create, start, state until stopped and delete calls, each timed)")
	fs.DurationVar(&o.Timeout, "timeout", bench.DefaultContainerTimeout, "per runtime call; a call that takes longer fails")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	benchUsage(fs, "container [--mode run|lifecycle] [--sandboxes vm,vm-boot,process,runc] [--bundle DIR]", `Creates, starts, waits for and deletes containers under hull's vm sandbox
(this executable, --sandbox=vm: a microVM per container) twice, as hull-vm
(VMs restored from a template, which its first container makes) and as
hull-vm-boot (each VM booted: the bundle's config.json copied with the
annotation hull.vm.template=false, the same rootfs; both share one --root),
under its process sandbox (--sandbox=process) and under runc, each going
first in turn, each with a private --root in a temporary directory, and
prints P50/min/max of each phase and the ratios to runc of the P50s; for
the vm sandbox also its start-latency timeline (first KVM_RUN, agent ready,
container created, started, exited: read from its --debug --log). As root.
Exit status 1 if a run failed.`)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	switch {
	case fs.NArg() > 0:
		return fail(exitUsage, "bench container: unexpected argument %q", fs.Arg(0))
	case o.NoRunc && o.Runc != "":
		return fail(exitUsage, "bench container: --runc and --no-runc exclude each other")
	case o.Mode != bench.ContainerModeRun && o.Mode != bench.ContainerModeLifecycle:
		return fail(exitUsage, "bench container: --mode %q: want %s or %s", o.Mode, bench.ContainerModeRun, bench.ContainerModeLifecycle)
	case o.Runs <= 0 || o.Warmup < 0:
		return fail(exitUsage, "bench container: --runs must be positive, --warmup not negative")
	}
	if err := o.SetSandboxes(*sandboxes); err != nil {
		return fail(exitUsage, "bench container: --sandboxes: %v", err)
	}
	var err error
	if o.Hull, err = os.Executable(); err != nil {
		return fail(exitError, "bench container: %v", err)
	}
	o.Progress = os.Stderr
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := bench.RunContainer(ctx, o)
	if rep != nil {
		if rc := benchOutput(rep, rep.Format, *jsonOut); rc != 0 {
			return rc
		}
	}
	if err != nil {
		return fail(exitError, "%v", err)
	}
	if n := rep.Failures(); n > 0 {
		return fail(exitError, "bench container: %d run(s) failed", n)
	}
	return 0
}

func benchUsage(fs *flag.FlagSet, synopsis, text string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hull bench %s [flags]\n\n%s\n\nflags:\n", synopsis, text)
		fs.PrintDefaults()
	}
}

// benchOutput prints a report and writes it as JSON when asked.
func benchOutput(rep any, format func(io.Writer) error, jsonPath string) int {
	if err := format(os.Stdout); err != nil {
		return fail(exitError, "bench: %v", err)
	}
	if jsonPath == "" {
		return 0
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(jsonPath, append(b, '\n'), 0o644)
	}
	if err != nil {
		return fail(exitError, "bench: --json: %v", err)
	}
	return 0
}
