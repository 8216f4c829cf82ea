package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// virtioIDVsock is the virtio device ID of a socket device (virtio 1.x §5).
const virtioIDVsock = 19

// virtioDevices is where the kernel lists the virtio devices it found.
const virtioDevices = "/sys/bus/virtio/devices"

// hasVirtioDevice reports whether dir (laid out like /sys/bus/virtio/devices)
// holds a device with the given virtio ID. Each entry's "device" file holds
// the ID in hex ("0x0013"). An unreadable or missing dir means no device:
// a guest without virtio has no /sys/bus/virtio at all.
func hasVirtioDevice(dir string, id uint16) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "device"))
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 16)
		if err == nil && uint16(v) == id {
			return true
		}
	}
	return false
}
