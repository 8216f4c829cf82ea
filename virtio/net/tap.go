package net

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// tunPath is the TUN/TAP clone device (a variable for tests).
var tunPath = "/dev/net/tun"

// TAP is a Linux TAP interface as a Backend: /dev/net/tun opened with
// IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, non-blocking, with a 12-byte vnet header
// (TUNSETVNETHDRSZ), so frames pass with their virtio_net_hdr_v1 both
// ways and TSO and checksum offloads reach the host's stack unchanged.
type TAP struct {
	fd       int
	name     string
	offloads uint32
}

var _ Backend = (*TAP)(nil)

// OpenTAP attaches to the TAP interface called name, or creates it when
// no interface has that name (it then disappears on Close; "" lets the
// kernel pick tapN). It needs CAP_NET_ADMIN, unless the TAP is a
// persistent one owned by the caller (ip tuntap add NAME mode tap user
// U). Configuring the interface (address, up, bridge) is the host's
// business.
//
// The offloads SetOffload accepts are probed here: TUNSETOFFLOAD with
// checksums, TSO4/6 and ECN, then fewer; what the kernel refuses is not
// offered to the guest.
func OpenTAP(name string) (*TAP, error) {
	if err := checkTAPName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO):
		return nil, fmt.Errorf("%w (load the tun module: modprobe tun): %w", ErrNoTUN, err)
	case err != nil:
		return nil, fmt.Errorf("net: open %s: %w", tunPath, err)
	}
	t := &TAP{fd: fd}
	if err := t.attach(name); err != nil {
		_ = unix.Close(fd) // the setup error is the one to report
		return nil, err
	}
	return t, nil
}

// checkTAPName refuses what the kernel's dev_valid_name would, with a
// clearer message.
func checkTAPName(name string) error {
	switch {
	case len(name) >= unix.IFNAMSIZ:
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrTAPName, name, unix.IFNAMSIZ-1)
	case name == "." || name == "..", strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return fmt.Errorf("%w: %q (no '/', ':' or white space; not . or ..)", ErrTAPName, name)
	}
	return nil
}

func (t *TAP) attach(name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrTAPName, name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	shown := name
	if shown == "" {
		shown = "(new)"
	}
	switch err := unix.IoctlIfreq(t.fd, unix.TUNSETIFF, ifr); {
	case err == unix.EPERM || err == unix.EACCES:
		return fmt.Errorf("net: TAP %s: creating or attaching a TAP needs CAP_NET_ADMIN (run as root), "+
			"unless it is a persistent TAP owned by this user (ip tuntap add %s mode tap user $USER): %w", shown, name, err)
	case err == unix.EBUSY:
		return fmt.Errorf("%w: %s: another process has it open (a single-queue TAP takes one): %w", ErrTAPBusy, shown, err)
	case err == unix.EINVAL:
		return fmt.Errorf("%w: %s exists and is not a single-queue TAP (a TUN, a multi-queue TAP or another kind of interface): %w",
			ErrNotTAP, shown, err)
	case err != nil:
		return fmt.Errorf("net: TAP %s: TUNSETIFF: %w", shown, err)
	}
	t.name = ifr.Name()
	return t.setup()
}

// setup sets the vnet header size and probes the offloads of an attached
// TAP.
func (t *TAP) setup() error {
	if err := unix.IoctlSetPointerInt(t.fd, unix.TUNSETVNETHDRSZ, HdrLen); err != nil {
		return fmt.Errorf("net: TAP %s: TUNSETVNETHDRSZ %d: %w", t.name, HdrLen, err)
	}
	for _, f := range []uint32{
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	} {
		if t.SetOffload(f) == nil {
			t.offloads = f
			break
		}
	}
	if err := t.SetOffload(0); err != nil {
		return fmt.Errorf("net: TAP %s: %w", t.name, err)
	}
	return nil
}

// TAPFromFile takes over a TAP someone else attached: f is /dev/net/tun
// after TUNSETIFF with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (for example a TAP
// created inside another network namespace, where only a thread that
// entered it could create it). The TAP works on a duplicate of f's
// descriptor, made non-blocking (a flag f shares); the caller keeps f and
// closes it when it likes: the interface, unless persistent, disappears
// once both are closed. The vnet header size and offloads are set up as
// OpenTAP does.
func TAPFromFile(f *os.File) (*TAP, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: no file", ErrNotTAP)
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("net: TAP file %s: %w", f.Name(), err)
	}
	fd := -1
	var dupErr error
	if err := sc.Control(func(raw uintptr) {
		fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("net: TAP file %s: %w", f.Name(), err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("net: TAP file %s: dup: %w", f.Name(), dupErr)
	}
	t := &TAP{fd: fd}
	if err := t.adopt(f.Name()); err != nil {
		_ = unix.Close(fd) // the check's error is the one to report
		return nil, err
	}
	return t, nil
}

// adopt checks that t.fd is an attached single-queue TAP with the flags
// the device needs, makes it non-blocking and sets it up.
func (t *TAP) adopt(shown string) error {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(t.fd, unix.TUNGETIFF, ifr); err != nil {
		// EBADFD: /dev/net/tun not attached yet; ENOTTY/EINVAL: not tun.
		return fmt.Errorf("%w: %s is not an attached TAP (TUNGETIFF: %w)", ErrNotTAP, shown, err)
	}
	t.name = ifr.Name()
	const want = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if flags := ifr.Uint16(); flags&(unix.IFF_TUN|unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR|unix.IFF_MULTI_QUEUE) != want {
		return fmt.Errorf("%w: %s has flags %#x, want IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, single queue", ErrNotTAP, t.name, flags)
	}
	if err := unix.SetNonblock(t.fd, true); err != nil {
		return fmt.Errorf("net: TAP %s: O_NONBLOCK: %w", t.name, err)
	}
	return t.setup()
}

// Name returns the interface's name (the kernel's pick when OpenTAP was
// given "").
func (t *TAP) Name() string { return t.name }

// FD implements Backend.
func (t *TAP) FD() int { return t.fd }

// Read implements Backend: one frame with its vnet header per read.
func (t *TAP) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(t.fd, p)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// Write implements Backend: one frame per writev. A TAP that is down
// refuses frames with EIO.
func (t *TAP) Write(iov [][]byte) (int, error) {
	for {
		n, err := unix.Writev(t.fd, iov)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// Offloads implements Backend.
func (t *TAP) Offloads() uint32 { return t.offloads }

// SetOffload implements Backend (TUNSETOFFLOAD).
func (t *TAP) SetOffload(flags uint32) error {
	if err := unix.IoctlSetInt(t.fd, unix.TUNSETOFFLOAD, int(flags)); err != nil {
		return fmt.Errorf("TUNSETOFFLOAD %#x: %w", flags, err)
	}
	return nil
}

// Close implements Backend. A TAP that OpenTAP created disappears.
func (t *TAP) Close() error {
	if err := unix.Close(t.fd); err != nil {
		return fmt.Errorf("net: closing TAP %s: %w", t.name, os.NewSyscallError("close", err))
	}
	return nil
}
