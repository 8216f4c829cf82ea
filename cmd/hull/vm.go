package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/vmm"
)

func init() {
	register(command{name: "vm", summary: "boot and manage microVMs (hull vm boot --help)", run: vmCmd})
}

// DefaultCmdline is the kernel command line when --cmdline is not given:
// serial console, reboot through the i8042 (the VMM stops on it), reboot at once on panic.
const DefaultCmdline = "console=ttyS0 reboot=k panic=-1"

const vmUsage = `usage: hull vm COMMAND [flags]   (hull vm COMMAND --help)

  boot      boot a microVM (optionally serving a control socket: --api-sock)
  restore   start a microVM from a snapshot
  status    print a running VM's state (through its control socket)
  pause     pause a running VM's vCPUs
  resume    resume a paused VM
  stop      stop a VM
  snapshot  snapshot a running VM into a directory
`

func vmCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Print(vmUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	switch args[0] {
	case "boot":
		return vmBoot(args[1:])
	case "restore":
		return vmRestore(args[1:])
	case "status", "pause", "resume", "stop", "snapshot":
		return vmControl(args[0], args[1:])
	}
	return fail(exitUsage, "vm: unknown subcommand %q (known: boot, restore, status, pause, resume, stop, snapshot)", args[0])
}

func vmBoot(args []string) int {
	fs := flag.NewFlagSet("vm boot", flag.ContinueOnError)
	var cfg vmm.Config
	fs.StringVar(&cfg.Kernel, "kernel", "", "guest kernel: an ELF64 vmlinux (bzImage is not supported); default: the default guest image (hull image build)")
	fs.StringVar(&cfg.Initrd, "initrd", "", "initramfs image (optional; with no --kernel, the default image's)")
	fs.StringVar(&cfg.Cmdline, "cmdline", DefaultCmdline, "kernel command line")
	fs.IntVar(&cfg.MemMiB, "mem", vmm.DefaultMemMiB, "guest memory in MiB")
	fs.IntVar(&cfg.CPUs, "cpus", vmm.DefaultCPUs, fmt.Sprintf("number of vCPUs (1..%d)", vmm.MaxCPUs))
	fs.BoolVar(&cfg.TestExitPort, "test-exit-port", false, "add the test-guest exit port (0xf4); the guest's code becomes hull's exit status")
	fs.StringVar(&cfg.KVMPath, "kvm", "/dev/kvm", "KVM device")
	fs.Func("disk", "virtio-blk disk PATH[,ro]: a raw image; repeat for more (vda, vdb, ...)", func(s string) error {
		d, err := parseDisk(s)
		cfg.Disks = append(cfg.Disks, d)
		return err
	})
	fs.Func("net", "virtio-net tap=NAME[,mac=aa:bb:cc:dd:ee:ff] on a host TAP interface: an existing one (ip tuntap add NAME mode tap), else created, unconfigured, for the VM's lifetime; no mac: one derived from NAME; repeat for more (eth0, eth1, ...)", func(s string) error {
		n, err := parseNet(s)
		cfg.Nets = append(cfg.Nets, n)
		return err
	})
	fs.Func("share", "virtio-9p share tag=NAME,path=DIR[,ro] of a host directory (a container rootfs): the guest mounts it with mount -t 9p -o trans=virtio,version=9p2000.L NAME MOUNTPOINT; nothing outside DIR is reachable, ro refuses every change; repeat for more", func(s string) error {
		sh, err := parseShare(s)
		cfg.Shares = append(cfg.Shares, sh)
		return err
	})
	fs.BoolVar(&cfg.RNG, "rng", false, "add a virtio-rng device (the guest's /dev/hwrng)")
	fs.Func("vsock", "virtio-vsock cid=N,uds=PATH: host programs connect to PATH and send \"CONNECT <port>\\n\"; guest connections to host port P go to PATH_P (Firecracker's hybrid vsock)", func(s string) error {
		v, err := parseVsock(s)
		cfg.Vsock = v
		return err
	})
	apiSock := fs.String("api-sock", "", "serve the VM's control socket (HTTP over a Unix socket, docs/vm-api.md) at this path: hull vm status|pause|resume|stop|snapshot --api-sock PATH")
	allowEmulated := fs.Bool("allow-emulated", false, "boot even where KVM emulates guest kernel code (Linux takes minutes there and cannot run 64-bit user space)")
	timeline := fs.Bool("timeline", false, "print the boot timeline to stderr when the VM stops")
	timelineJSON := fs.String("timeline-json", "", "write the boot timeline as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: hull vm boot [--kernel VMLINUX] [flags]

Boots a microVM with the serial console on this terminal and runs it until
the guest powers off, resets or exits. Exit status: 0 power off/reset, the
guest's code with --test-exit-port, %d triple fault, %d emulation failure,
%d KVM internal error, %d guest panic, %d entry failure, %d host error,
%d interrupted, 1 the VM could not be built, 2 bad usage.

flags:
`, vmm.ExitCodeTripleFault, vmm.ExitCodeEmulation, vmm.ExitCodeInternalError, vmm.ExitCodeGuestPanic,
			vmm.ExitCodeFailEntry, vmm.ExitCodeHostError, vmm.ExitCodeCancelled)
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "vm boot: unexpected argument %q", fs.Arg(0))
	}
	if cfg.Kernel == "" {
		// DESIGN.md §5: no kernel flags means the default guest image.
		kernel, initrd, err := guestimage.Default()
		if err != nil {
			return fail(exitError, "vm boot: no --kernel given and no default image: %v", err)
		}
		cfg.Kernel = kernel
		if cfg.Initrd == "" {
			cfg.Initrd = initrd
		}
	}
	// Zero means "default" inside vmm.Config; on the command line it is a mistake.
	if cfg.MemMiB <= 0 {
		return fail(exitUsage, "vm boot: --mem must be a positive number of MiB, not %d", cfg.MemMiB)
	}
	if cfg.CPUs <= 0 {
		return fail(exitUsage, "vm boot: --cpus must be at least 1, not %d", cfg.CPUs)
	}
	cfg.CheckHost = func(kvmPath string) error { return usableKVM(kvmPath, *allowEmulated) }
	cfg.Console = os.Stdout
	cfg.ReadyMarker = agent.ReadyLine // a guest without hull-agent just never shows it
	cfg.ConsoleIn = os.Stdin
	cfg.Start = processStart

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ln, err := listenAPI(*apiSock)
	if err != nil {
		return fail(exitError, "vm boot: %v", err)
	}
	vm, err := vmm.Start(ctx, cfg)
	if err != nil {
		closeAPI(ln, *apiSock)
		return fail(exitError, "vm boot: %v", err)
	}
	exit := serveAPI(ln, *apiSock, vm)
	return reportExit(exit, *timeline, *timelineJSON)
}

// reportExit prints how a VM stopped as --timeline and --timeline-json ask
// and returns hull's exit status for it.
func reportExit(exit *vmm.Exit, timeline bool, timelineJSON string) int {
	if timeline {
		fmt.Fprintf(os.Stderr, "hull: VM stopped: %s\nboot timeline (since process start):\n", exit)
		if err := exit.Timeline.Format(os.Stderr); err != nil {
			return fail(exitError, "timeline: %v", err)
		}
	}
	if timelineJSON != "" {
		b, err := json.MarshalIndent(struct {
			Reason   string       `json:"reason"`
			Message  string       `json:"message"`
			Timeline vmm.Timeline `json:"timeline"`
			Memory   vmm.MemStats `json:"memory"`
		}{exit.Reason.String(), exit.Message, exit.Timeline, exit.Memory}, "", "  ")
		if err == nil {
			err = os.WriteFile(timelineJSON, append(b, '\n'), 0o644)
		}
		if err != nil {
			return fail(exitError, "timeline: %v", err)
		}
	}
	if code := exit.ExitCode(); code != 0 && exit.Reason != vmm.ReasonGuestExit {
		fmt.Fprintf(os.Stderr, "hull: VM stopped: %s\n", exit)
	}
	return exit.ExitCode()
}
