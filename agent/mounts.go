package agent

import "golang.org/x/sys/unix"

// Mount is one file system the agent mounts. The target directory is
// created first (mode 0755) if it is missing.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr // MS_* flags
	Data                   string  // file-system options
	// Required: without it the agent cannot work (nor a shell be useful),
	// so a failure stops the boot instead of being logged.
	Required bool
}

// BaseMounts is what every guest gets, in mount order (/dev before
// /dev/pts). An initramfs root gets no mounts from the kernel:
// CONFIG_DEVTMPFS_MOUNT applies only to a root file system mounted from a
// disk.
func BaseMounts() []Mount {
	const nosuidNodevNoexec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuidNodevNoexec, Required: true},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nosuidNodevNoexec, Required: true},
		// devtmpfs hides the initramfs's /dev/console and /dev/null with its
		// own nodes; the console already open as stdin/out/err stays open.
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755", Required: true},
		// A private devpts instance; /dev/ptmx (from devtmpfs) finds it
		// next to itself. Shells and later container consoles need it.
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC,
			Data: "newinstance,ptmxmode=0666,mode=0620"},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
	}
}
