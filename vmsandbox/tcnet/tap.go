package tcnet

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// tunPath is the TUN/TAP clone device.
const tunPath = "/dev/net/tun"

// createTAP creates TAP name inside the network namespace ns and returns
// its file: /dev/net/tun opened and attached (TUNSETIFF) on a thread that
// entered ns, since a TAP is made in the namespace of the thread that
// opens the clone device. Flags as virtio/net's OpenTAP: IFF_TAP |
// IFF_NO_PI | IFF_VNET_HDR, single queue, not persistent. Its IPv6 is
// disabled before it goes up, so the namespace's own stack sends nothing
// to the guest through it.
func createTAP(ns *os.File, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the goroutine's end takes the thread, still in
		// ns, out of the process.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("tcnet: entering the network namespace: %w", os.NewSyscallError("setns", err))}
			return
		}
		fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			hint := ""
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
				hint = " (load the tun module: modprobe tun)"
			}
			done <- result{err: fmt.Errorf("tcnet: open %s: %w%s", tunPath, err, hint)}
			return
		}
		ifr, err := unix.NewIfreq(name)
		if err == nil {
			ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			_ = unix.Close(fd) // the TUNSETIFF error is the one to report
			done <- result{err: fmt.Errorf("tcnet: creating TAP %s: TUNSETIFF: %w", name, err)}
			return
		}
		// Best effort: without IPv6 in the kernel the file is missing.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0)
		done <- result{f: os.NewFile(uintptr(fd), tunPath+" ("+name+")")}
	}()
	r := <-done
	return r.f, r.err
}
