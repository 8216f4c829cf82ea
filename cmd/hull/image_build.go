package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hullvm/hull/guestimage"
)

// imageBuild: progress and the summary go to stderr, the kernel and initrd
// paths (one per line) to stdout, for scripts: make run reads them.
func imageBuild(args []string) int {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	var opts guestimage.Options
	fs.BoolVar(&opts.Rebuild, "rebuild", false, "build the busybox and the initramfs again even if cached (not the kernel)")
	fs.StringVar(&opts.SourceDir, "src", "", "hull's source tree (default: found upward from the working directory)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: hull image build [--rebuild] [--src DIR]

Builds the default guest image, or finds it in the cache ($%s, default
~/.cache/hull): the kernel (guest/build-kernel.sh) and an initramfs with
hull-agent as /init and a u-root busybox for a debug shell. Needs hull's
source tree and a Go toolchain. Progress and a summary go to stderr; the
kernel and initrd paths, one per line, to stdout.

flags:
`, guestimage.EnvCache)
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "image build: unexpected argument %q", fs.Arg(0))
	}
	opts.Progress = os.Stderr
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	img, err := guestimage.Build(ctx, opts)
	if err != nil {
		return fail(exitError, "image build: %v", err)
	}
	how := fmt.Sprintf("built in %.1f s", img.Took.Seconds())
	if img.Cached {
		how = fmt.Sprintf("cached; checked in %.1f s", img.Took.Seconds())
	}
	fmt.Fprintf(os.Stderr, "guest image %s (%s)\n  kernel  %s  %s\n  initrd  %s  %s (%d entries, hull-agent %s)\n",
		img.Key, how, img.Kernel, mib(img.KernelSize), img.Initrd, mib(img.InitrdSize),
		img.Info.Entries, mib(img.Info.AgentSize))
	fmt.Println(img.Kernel)
	fmt.Println(img.Initrd)
	return 0
}

func imageDefault(args []string) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Println("usage: hull image default\n\nPrints the kernel and initrd paths of the default guest image, one per line.")
			return 0
		}
		return fail(exitUsage, "image default: unexpected argument %q", args[0])
	}
	kernel, initrd, err := guestimage.Default()
	if err != nil {
		return fail(exitError, "%v", err)
	}
	fmt.Println(kernel)
	fmt.Println(initrd)
	return 0
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
