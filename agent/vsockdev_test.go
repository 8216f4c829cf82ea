package agent

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHasVirtioDevice(t *testing.T) {
	dir := t.TempDir()
	if hasVirtioDevice(filepath.Join(dir, "missing"), virtioIDVsock) {
		t.Error("a missing directory has a vsock device")
	}
	add := func(name, id string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if id != "" {
			if err := os.WriteFile(filepath.Join(dir, name, "device"), []byte(id), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("virtio0", "0x0002\n") // blk
	add("virtio1", "")         // no device file
	add("virtio2", "garbage\n")
	if hasVirtioDevice(dir, virtioIDVsock) {
		t.Error("blk, an entry without a device file and garbage: found a vsock device")
	}
	if !hasVirtioDevice(dir, 2) {
		t.Error("did not find the blk device (0x0002)")
	}
	add("virtio3", "0x0013\n")
	if !hasVirtioDevice(dir, virtioIDVsock) {
		t.Error("did not find the vsock device (0x0013)")
	}
}
