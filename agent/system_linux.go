package agent

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"
)

// The boot timer (DESIGN.md §3; Firecracker-compatible): a 1-byte write of
// BootTimerValue at guest-physical BootTimerAddr marks "boot complete". The
// agent cannot import boot (DESIGN.md §2); a test checks both against boot
// and devices/boottimer.
const (
	BootTimerAddr  = 0xc0000000
	BootTimerValue = 123
)

// debugShell is the shell hull.agent.shell=1 runs (u-root's gosh in the
// default image), with the environment below.
const debugShell = "/bin/sh"

var shellEnv = []string{"PATH=/bbin:/bin:/ubin:/usr/bin:/usr/sbin:/sbin", "HOME=/", "TERM=linux"}

// linuxSystem is System for PID 1 in a guest.
type linuxSystem struct {
	reaper *reaper
}

var _ System = (*linuxSystem)(nil)

func (s *linuxSystem) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (s *linuxSystem) Mount(m Mount) error {
	if err := os.MkdirAll(m.Target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil {
		return &os.PathError{Op: "mount", Path: m.Target, Err: err}
	}
	return nil
}

func (s *linuxSystem) SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return os.NewSyscallError("sethostname", err)
	}
	return nil
}

// LinkUp sets IFF_UP with SIOCGIFFLAGS/SIOCSIFFLAGS, two ioctls on any
// socket: no netlink library for one flag. Bringing lo up makes the kernel
// add 127.0.0.1/8 to it by itself (inetdev_event, NETDEV_UP on loopback).
func (s *linuxSystem) LinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: SIOCGIFFLAGS: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: SIOCSIFFLAGS: %w", name, err)
	}
	return nil
}

// WriteBootTimer maps the boot timer's page from /dev/mem (CONFIG_DEVMEM;
// O_SYNC makes the mapping uncached) and stores one byte, as Firecracker's
// init tools do. Under a VMM without the device the store goes nowhere.
func (s *linuxSystem) WriteBootTimer() error {
	f, err := os.OpenFile("/dev/mem", os.O_RDWR|os.O_SYNC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), BootTimerAddr, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap /dev/mem at %#x: %w", BootTimerAddr, err)
	}
	mem[0] = BootTimerValue // one 1-byte store: the device counts nothing else
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("munmap /dev/mem: %w", err)
	}
	return nil
}

// ListenVsock listens on any local CID, so the listener does not depend on
// the CID the VMM assigns.
func (s *linuxSystem) ListenVsock(port uint32) (net.Listener, error) {
	if !hasVirtioDevice(virtioDevices, virtioIDVsock) {
		return nil, ErrNoVsock
	}
	ln, err := vsock.ListenContextID(unix.VMADDR_CID_ANY, port, nil)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return ln, nil
}

// Shell runs debugShell as a session leader with the serial port as its
// controlling terminal (job control works; /dev/console cannot be one).
func (s *linuxSystem) Shell() error {
	tty, err := os.OpenFile("/dev/ttyS0", os.O_RDWR, 0)
	if err != nil {
		if tty, err = os.OpenFile("/dev/console", os.O_RDWR, 0); err != nil {
			return err
		}
	}
	// argv[0] is the path: a u-root busybox follows it through the
	// symlinks to learn which command to run ("sh" alone is none).
	_, done, err := s.reaper.start(debugShell, []string{debugShell}, &os.ProcAttr{
		Dir:   "/",
		Env:   shellEnv,
		Files: []*os.File{tty, tty, tty},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	})
	_ = tty.Close() // the child has its own copies
	if err != nil {
		return err
	}
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("%s ended: %s", debugShell, describeStatus(ws))
	}
	return nil
}

// rebootSettle is how long Reboot lets the guest kernel and the VMM carry
// what was just written to vsock connections (the answer to a power-off
// request) to the host first: the guest's virtio-vsock transmits from a
// workqueue and the VMM from its device loop, and a restart drops what
// neither has sent. Seen lost under load in the nested runner.
const rebootSettle = 50 * time.Millisecond

// Reboot restarts the machine: without ACPI this is how a microVM ends
// (reboot=k: i8042 reset; reboot=t: triple fault).
func (s *linuxSystem) Reboot() error {
	time.Sleep(rebootSettle)
	unix.Sync()
	return os.NewSyscallError("reboot", unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART))
}

func describeStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("signal %v", ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

var _ Mounter = (*linuxSystem)(nil)

// Unmount detaches the file system on target (MNT_DETACH: anything still
// using it keeps it until done).
func (s *linuxSystem) Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount", Path: target, Err: err}
	}
	return nil
}
