//go:build linux

// Command hello-init is the /init of the kvm tier's Linux boot test
// (tests/kvm): it mounts /proc, prints one line to the console
//
//	hello-init: pid=1 ncpu=2 cmdline=console=ttyS0 reboot=k panic=-1 quiet
//
// and restarts the machine (unless the initramfs holds /hello-init.hang,
// hang.go). The kernel is booted with reboot=k, so the
// restart is an i8042 reset, which hull reports as the stop reason "reset".
// Build it static:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/hello-init ./tests/guest/hello-init
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == p9ExecArg { // run from a 9p share by p9Checks
		fmt.Println("ok")
		return
	}
	console := consoleWriter()
	cmdline := "?"
	if err := mountProc(); err != nil {
		fmt.Fprintf(console, "hello-init: mount /proc: %v\n", err)
	} else if b, err := os.ReadFile("/proc/cmdline"); err != nil {
		fmt.Fprintf(console, "hello-init: %v\n", err)
	} else {
		cmdline = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(console, "hello-init: pid=%d ncpu=%d cmdline=%s\n", os.Getpid(), runtime.NumCPU(), cmdline)
	hangIfMarked(console) // hang.go
	if strings.Contains(" "+cmdline+" ", " "+virtioSwitch+" ") {
		virtioChecks(console) // virtio.go
	}
	if hasSwitch(cmdline, netSwitch) {
		netChecks(console) // net.go
	}
	if hasSwitch(cmdline, p9Switch) {
		p9Checks(console) // p9.go
	}

	syscall.Sync()
	err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
	// Only reached if the reboot failed; PID 1 exiting panics the kernel,
	// and panic=-1 restarts it anyway.
	fmt.Fprintf(console, "hello-init: reboot: %v\n", err)
	os.Exit(1)
}

// consoleWriter returns stdout, which the kernel opens on /dev/console for
// init, or /dev/console itself when stdout is not usable.
func consoleWriter() io.Writer {
	if _, err := os.Stdout.Stat(); err == nil {
		return os.Stdout
	}
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		return f
	}
	return os.Stdout
}

// mountProc mounts procfs on /proc, creating the directory if the initramfs
// lacks it. An initramfs root gets no mounts from the kernel.
func mountProc() error {
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return err
	}
	return syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
}
