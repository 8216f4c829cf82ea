package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames maps the names in process.capabilities to capability numbers
// (linux/capability.h).
var capNames = map[string]int{
	"CAP_CHOWN":              unix.CAP_CHOWN,
	"CAP_DAC_OVERRIDE":       unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH":    unix.CAP_DAC_READ_SEARCH,
	"CAP_FOWNER":             unix.CAP_FOWNER,
	"CAP_FSETID":             unix.CAP_FSETID,
	"CAP_KILL":               unix.CAP_KILL,
	"CAP_SETGID":             unix.CAP_SETGID,
	"CAP_SETUID":             unix.CAP_SETUID,
	"CAP_SETPCAP":            unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE":    unix.CAP_LINUX_IMMUTABLE,
	"CAP_NET_BIND_SERVICE":   unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST":      unix.CAP_NET_BROADCAST,
	"CAP_NET_ADMIN":          unix.CAP_NET_ADMIN,
	"CAP_NET_RAW":            unix.CAP_NET_RAW,
	"CAP_IPC_LOCK":           unix.CAP_IPC_LOCK,
	"CAP_IPC_OWNER":          unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE":         unix.CAP_SYS_MODULE,
	"CAP_SYS_RAWIO":          unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT":         unix.CAP_SYS_CHROOT,
	"CAP_SYS_PTRACE":         unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT":          unix.CAP_SYS_PACCT,
	"CAP_SYS_ADMIN":          unix.CAP_SYS_ADMIN,
	"CAP_SYS_BOOT":           unix.CAP_SYS_BOOT,
	"CAP_SYS_NICE":           unix.CAP_SYS_NICE,
	"CAP_SYS_RESOURCE":       unix.CAP_SYS_RESOURCE,
	"CAP_SYS_TIME":           unix.CAP_SYS_TIME,
	"CAP_SYS_TTY_CONFIG":     unix.CAP_SYS_TTY_CONFIG,
	"CAP_MKNOD":              unix.CAP_MKNOD,
	"CAP_LEASE":              unix.CAP_LEASE,
	"CAP_AUDIT_WRITE":        unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL":      unix.CAP_AUDIT_CONTROL,
	"CAP_SETFCAP":            unix.CAP_SETFCAP,
	"CAP_MAC_OVERRIDE":       unix.CAP_MAC_OVERRIDE,
	"CAP_MAC_ADMIN":          unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG":             unix.CAP_SYSLOG,
	"CAP_WAKE_ALARM":         unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND":      unix.CAP_BLOCK_SUSPEND,
	"CAP_AUDIT_READ":         unix.CAP_AUDIT_READ,
	"CAP_PERFMON":            unix.CAP_PERFMON,
	"CAP_BPF":                unix.CAP_BPF,
	"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// capSets are the five capability sets as bit masks.
type capSets struct {
	bounding, effective, inheritable, permitted, ambient uint64
}

// resolveCaps turns the capability names into masks. Names it does not
// know, and capabilities above last (the kernel's cap_last_cap), are left
// out and returned, as runc does (it warns and goes on). nil means no
// capabilities at all.
func resolveCaps(c *specs.LinuxCapabilities, last int) (capSets, []string) {
	var s capSets
	if c == nil {
		return s, nil
	}
	var skipped []string
	seen := map[string]bool{}
	mask := func(names []string) uint64 {
		var m uint64
		for _, n := range names {
			v, ok := capNames[strings.ToUpper(n)]
			if !ok || v > last {
				if !seen[n] {
					seen[n] = true
					skipped = append(skipped, n)
				}
				continue
			}
			m |= 1 << uint(v)
		}
		return m
	}
	s.bounding = mask(c.Bounding)
	s.effective = mask(c.Effective)
	s.inheritable = mask(c.Inheritable)
	s.permitted = mask(c.Permitted)
	s.ambient = mask(c.Ambient)
	return s, skipped
}

// lastCap reads /proc/sys/kernel/cap_last_cap (before pivot_root: the
// container may not mount /proc), falling back to what x/sys knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v >= 0 && v < 64 {
			return v
		}
	}
	return unix.CAP_LAST_CAP
}

// dropBounding removes from the calling thread's bounding set every
// capability not in keep (needs CAP_SETPCAP: before the user changes).
func dropBounding(keep uint64, last int) error {
	for c := 0; c <= last; c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				continue // not a capability of this kernel
			}
			return fmt.Errorf("drop %s from the bounding set: %w", capName(c), err)
		}
	}
	return nil
}

// applyCaps sets the calling thread's effective, permitted and
// inheritable sets (capset(2)) and then its ambient set.
func applyCaps(s capSets, last int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		shift := uint(32 * i)
		data[i].Effective = uint32(s.effective >> shift)
		data[i].Permitted = uint32(s.permitted >> shift)
		data[i].Inheritable = uint32(s.inheritable >> shift)
	}
	// The kernel reads both elements of the version-3 array.
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset (effective %#x, permitted %#x, inheritable %#x): %w",
			s.effective, s.permitted, s.inheritable, err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		if s.ambient == 0 {
			return nil // a kernel without ambient capabilities
		}
		return fmt.Errorf("clear the ambient set: %w", err)
	}
	for c := 0; c <= last; c++ {
		if s.ambient&(1<<uint(c)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s (it must be permitted and inheritable too): %w", capName(c), err)
		}
	}
	return nil
}

func capName(c int) string {
	for n, v := range capNames {
		if v == c {
			return n
		}
	}
	return "capability " + strconv.Itoa(c)
}
