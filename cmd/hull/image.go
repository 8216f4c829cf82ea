package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hullvm/hull/initramfs"
	"github.com/hullvm/hull/internal/atomicfile"
)

func init() {
	register(command{name: "image", summary: "build guest images (hull image build --help)", run: imageCmd})
}

const imageUsage = `usage: hull image build [--rebuild] [--src DIR]     build (or find cached) the default guest image
       hull image default                            print the default image's kernel and initrd paths
       hull image initrd --init BINARY -o FILE [--gzip]`

func imageCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Println(imageUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	switch args[0] {
	case "build":
		return imageBuild(args[1:])
	case "default":
		return imageDefault(args[1:])
	case "initrd":
		return imageInitrd(args[1:])
	}
	return fail(exitUsage, "image: unknown subcommand %q (known: build, default, initrd)", args[0])
}

func imageInitrd(args []string) int {
	fs := flag.NewFlagSet("image initrd", flag.ContinueOnError)
	initPath := fs.String("init", "", "static executable to install as /init")
	out := fs.String("o", "", "output file")
	gz := fs.Bool("gzip", false, "gzip the archive")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hull image initrd --init BINARY -o FILE [--gzip]\n\n"+
			"Writes a reproducible newc initramfs holding /dev/console, /dev/null, /proc, /sys, /tmp and BINARY as /init.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *initPath == "" || *out == "" || fs.NArg() > 0 {
		return fail(exitUsage, "image initrd: --init and -o are required, and nothing else (see --help)")
	}
	bin, err := os.ReadFile(*initPath)
	if err != nil {
		return fail(exitError, "image initrd: %v", err)
	}
	// temp file + rename: a failed run never leaves a truncated image behind
	err = atomicfile.Write(*out, func(w io.Writer) error {
		return initramfs.Write(w, initramfs.Minimal(bin), initramfs.Options{Gzip: *gz})
	})
	if err != nil {
		return fail(exitError, "image initrd: %v", err)
	}
	return 0
}
