package vmm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/guestmem"
)

// A snapshot's state file is checked before anything is built: these run
// without KVM.

func fakeSnapshot(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	ranges, err := boot.MemoryRanges(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	hdr := &snapshotHeader{CPUID: "abc", Memory: ranges, MemFileSize: guestmem.FileSize(ranges...),
		Devices: []string{"vsock"}, Config: savedConfig{MemMiB: 64, CPUs: 2, Vsock: &Vsock{CID: 3, UDSPath: "/x"}}}
	st := &machineState{VCPUs: []*VCPUState{{ID: 0}, {ID: 1}}, VM: &VMState{}, Virtio: []virtioState{{Name: "vsock"}}}
	if _, err := writeState(filepath.Join(dir, stateFile), hdr, st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	return dir, b
}

func TestReadSnapshot(t *testing.T) {
	dir, _ := fakeSnapshot(t)
	hdr, st, err := readSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Config.CPUs != 2 || len(st.VCPUs) != 2 || st.VCPUs[1].ID != 1 || hdr.Devices[0] != "vsock" {
		t.Fatalf("read back %+v %+v", hdr, st)
	}
}

func TestReadSnapshotRefuses(t *testing.T) {
	_, good := fakeSnapshot(t)
	nl := strings.IndexByte(string(good), '\n')
	for _, c := range []struct {
		name, want string
		b          []byte
	}{
		{"empty", "no header line", nil},
		{"not json", "not a hull snapshot", []byte("{{{\n")},
		{"other magic", "not a hull snapshot", []byte(`{"magic":"firecracker"}` + "\n")},
		{"format", "format 7", []byte(strings.Replace(string(good), `"format":1,`, `"format":7,`, 1))},
		{"version", "was taken by hull zz", []byte(strings.Replace(string(good), `"hullVersion":"`, `"hullVersion":"zz`, 1))},
		{"truncated", "truncated", good[:len(good)-3]},
		{"trailing", "bytes after", append(append([]byte{}, good...), 0)},
		{"corrupted", "corrupted", append(append([]byte{}, good[:len(good)-1]...), good[len(good)-1]^1)},
		{"huge size", "out of range", []byte(strings.Replace(string(good[:nl]), `"stateSize":`, `"stateSize":9999999999`, 1) + string(good[nl:]))},
		{"mismatch", "does not match", []byte(strings.Replace(string(good), `"CPUs":2`, `"CPUs":3`, 1))},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, stateFile), c.b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := readSnapshot(dir)
			if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v; want ErrSnapshot saying %q", err, c.want)
			}
		})
	}
	if _, _, err := readSnapshot(t.TempDir()); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("no state file: %v", err)
	}
}

func TestRestoredConfigOverrides(t *testing.T) {
	hdr := &snapshotHeader{Config: savedConfig{MemMiB: 64, CPUs: 1, Disks: []Disk{{Path: "/a"}},
		Shares: []Share{{Tag: "rootfs", Path: "/empty"}}, Vsock: &Vsock{CID: 3, UDSPath: "/old"}}}
	cfg, err := restoredConfig(hdr, &RestoreConfig{Dir: "/s", VsockUDS: "/new", Disks: []Disk{{Path: "/b", ReadOnly: true}},
		Shares: []Share{{Tag: "rootfs", Path: "/bundle/rootfs", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vsock.UDSPath != "/new" || cfg.Vsock.CID != 3 || cfg.Disks[0].Path != "/b" || cfg.Shares[0].Path != "/bundle/rootfs" || !cfg.Shares[0].ReadOnly {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if hdr.Config.Vsock.UDSPath != "/old" || hdr.Config.Disks[0].Path != "/a" {
		t.Fatal("the overrides changed the snapshot's own config")
	}
	for _, rc := range []RestoreConfig{
		{Disks: []Disk{{Path: "/x"}, {Path: "/y"}}},
		{Nets: []Net{{Tap: "tap0"}}},
		{Shares: []Share{{Tag: "other", Path: "/x"}}},
	} {
		if _, err := restoredConfig(hdr, &rc); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", rc, err)
		}
	}
}
