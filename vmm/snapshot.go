package vmm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/vmm/api"
)

// A snapshot is a directory of two files (docs/snapshot.md):
//
//	state   one JSON line, the header (what the snapshot needs of the host
//	        and of the restoring hull), then the gob-encoded machine state,
//	        whose SHA-256 the header records
//	memory  guest RAM, regions back to back, sparse (zero pages are holes);
//	        restored with MAP_PRIVATE, so pages load when the guest touches them
const (
	snapshotMagic   = "hull-snapshot"
	snapshotFormat  = 1 // bumped whenever the header or a state type changes
	stateFile       = "state"
	memoryFile      = "memory"
	maxStateSize    = 64 << 20
	maxHeaderLength = 1 << 20
)

// ErrSnapshot is matched by every error about an unusable snapshot.
var ErrSnapshot = errors.New("unusable snapshot")

// snapshotHeader is the first line of the state file.
type snapshotHeader struct {
	Magic       string           `json:"magic"`
	Format      int              `json:"format"`
	HullVersion string           `json:"hullVersion"`
	Created     time.Time        `json:"created"`
	CPUID       string           `json:"cpuid"` // SHA-256 of the CPUID the vCPUs were given
	Memory      []guestmem.Range `json:"memory"`
	MemFileSize uint64           `json:"memFileSize"`
	Devices     []string         `json:"devices"` // virtio devices in slot order
	Config      savedConfig      `json:"config"`
	StateSize   int64            `json:"stateSize"`
	StateSHA256 string           `json:"stateSHA256"`
}

// savedConfig is the part of a Config a restore rebuilds the machine from.
type savedConfig struct {
	MemMiB       int
	CPUs         int
	Cmdline      string
	Disks        []Disk
	Nets         []Net
	Shares       []Share
	RNG          bool
	Vsock        *Vsock
	TestExitPort bool
}

// machineState is the gob-encoded body of the state file.
type machineState struct {
	VCPUs  []*VCPUState
	VM     *VMState
	Legacy legacyState
	Virtio []virtioState
}

// hullVersion identifies the build: snapshots are only restored by the
// same one (their state types are not stable across versions).
func hullVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += "+" + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "-dirty"
			}
		}
	}
	return v
}

// Timeline returns the VM's timeline so far.
func (v *VM) Timeline() Timeline { return v.m.rec.timeline() }

// Snapshot writes a paused VM's state and memory to req.Dir, which must
// not exist (or be empty). The VM stays paused.
func (v *VM) Snapshot(req api.SnapshotRequest) (*api.SnapshotResult, error) {
	t0 := time.Now()
	m := v.m
	// Under snapMu the VM neither resumes nor is torn down (vm.go).
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	select {
	case <-v.done:
		return nil, stateErr(ErrStopped)
	default:
	}
	if m.stopping.Load() {
		return nil, stateErr(ErrStopped)
	}
	if !m.isPaused() {
		return nil, fmt.Errorf("snapshot: the VM is running: pause it first (%w)", api.ErrState)
	}
	if err := prepareSnapshotDir(req.Dir); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(req.Dir)), ".snapshot-*")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	// The devices finish what they are doing and stop touching guest
	// memory; they go on (serving a paused guest nothing) afterwards.
	defer func() {
		for _, d := range m.virtio {
			if err := d.mmio.Resume(); err != nil {
				m.cfg.Log.Warn("resuming a virtio device after a snapshot", "dev", d.name, "err", err)
			}
		}
	}()
	for _, d := range m.virtio {
		if err := d.mmio.Pause(); err != nil {
			return nil, fmt.Errorf("snapshot: pausing virtio %s: %w", d.name, err)
		}
	}
	st, err := m.captureState()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	memf, err := os.OpenFile(filepath.Join(tmp, memoryFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	memBytes, err := m.mem.WriteSparse(memf)
	if err == nil {
		err = memf.Sync()
	}
	if cerr := memf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: writing guest memory: %w", err)
	}
	hdr := snapshotHeader{
		CPUID: m.cpuidHash, Memory: m.mem.Ranges(), MemFileSize: guestmem.FileSize(m.mem.Ranges()...),
		Config: m.saved(),
	}
	for _, d := range m.virtio {
		hdr.Devices = append(hdr.Devices, d.name)
	}
	stateSize, err := writeState(filepath.Join(tmp, stateFile), &hdr, st)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	os.Remove(req.Dir) // empty, or absent (prepareSnapshotDir)
	if err := os.Rename(tmp, req.Dir); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	done = true
	return &api.SnapshotResult{Dir: req.Dir, MemBytes: memBytes, StateSize: stateSize, Took: time.Since(t0)}, nil
}

// writeState writes the state file: hdr (its format, version, time and
// state fields filled in here) and st.
func writeState(path string, hdr *snapshotHeader, st *machineState) (int64, error) {
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(st); err != nil {
		return 0, fmt.Errorf("encoding the state: %w", err)
	}
	sum := sha256.Sum256(body.Bytes())
	hdr.Magic, hdr.Format, hdr.HullVersion, hdr.Created = snapshotMagic, snapshotFormat, hullVersion(), time.Now().UTC()
	hdr.StateSize, hdr.StateSHA256 = int64(body.Len()), hex.EncodeToString(sum[:])
	hb, err := json.Marshal(hdr)
	if err != nil {
		return 0, err
	}
	if len(hb) >= maxHeaderLength {
		return 0, fmt.Errorf("the header is %d bytes", len(hb))
	}
	if err := writeFileSync(path, append(append(hb, '\n'), body.Bytes()...)); err != nil {
		return 0, err
	}
	return int64(len(hb) + 1 + body.Len()), nil
}

func prepareSnapshotDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("snapshot: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("snapshot: %s is not empty", dir)
	}
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (m *machine) saved() savedConfig {
	c := m.cfg
	return savedConfig{MemMiB: c.MemMiB, CPUs: c.CPUs, Cmdline: c.Cmdline, Disks: c.Disks, Nets: c.Nets,
		Shares: c.Shares, RNG: c.RNG, Vsock: c.Vsock, TestExitPort: c.TestExitPort}
}

// captureState reads every vCPU's, KVM's and every device's state; the
// vCPUs are parked and the virtio transports paused.
func (m *machine) captureState() (*machineState, error) {
	st := &machineState{}
	msrs, err := snapshotMSRs(m.sys)
	if err != nil {
		return nil, err
	}
	for _, c := range m.vcpus {
		cs, err := c.saveState(msrs)
		if err != nil {
			return nil, fmt.Errorf("vCPU %d: %w", c.id, err)
		}
		st.VCPUs = append(st.VCPUs, cs)
	}
	if st.VM, err = m.saveVMState(); err != nil {
		return nil, err
	}
	if st.Legacy, err = m.saveLegacy(); err != nil {
		return nil, err
	}
	for _, d := range m.virtio {
		ds, err := d.mmio.SaveState()
		if err != nil {
			return nil, fmt.Errorf("virtio %s: %w", d.name, err)
		}
		st.Virtio = append(st.Virtio, virtioState{Name: d.name, MMIO: ds})
	}
	return st, nil
}

// RestoreConfig says where a snapshot is and what changes on restore.
type RestoreConfig struct {
	Dir string // the snapshot directory

	// Overrides. Each replaces the snapshotted VM's, in order; nil keeps
	// it. A device's kind and count cannot change.
	VsockUDS string  // a new host socket for the vsock device
	Disks    []Disk  // all disks, same count
	Nets     []Net   // all TAPs, same count; the MAC stays the snapshotted one
	Shares   []Share // by tag: a new host directory for that share

	// Paused leaves the VM paused after the restore.
	Paused bool

	Console     io.Writer
	ConsoleIn   io.Reader
	ReadyMarker string
	KVMPath     string
	CheckHost   func(kvmPath string) error
	Start       time.Time
	Log         *slog.Logger
}

// Restore builds a VM from a snapshot and starts it (paused if asked).
// Nothing of it is left running when it fails.
func Restore(ctx context.Context, rc RestoreConfig) (*VM, error) {
	hdr, st, err := readSnapshot(rc.Dir)
	if err != nil {
		return nil, err
	}
	cfg, err := restoredConfig(hdr, &rc)
	if err != nil {
		return nil, err
	}
	m, err := buildRestored(cfg, hdr, st, rc.Dir)
	if err != nil {
		return nil, err
	}
	if rc.Paused {
		p := m.pauseState()
		p.mu.Lock()
		p.want = true
		m.pausing.Store(true)
		p.mu.Unlock()
	}
	return m.startVM(ctx), nil
}

// readSnapshot reads and checks the state file.
func readSnapshot(dir string) (*snapshotHeader, *machineState, error) {
	path := filepath.Join(dir, stateFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.LimitReader(f, maxHeaderLength+maxStateSize), maxHeaderLength)
	line, err := br.ReadSlice('\n') // at most the reader's buffer: maxHeaderLength
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: no header line: %v", ErrSnapshot, path, err)
	}
	var hdr snapshotHeader
	if err := json.Unmarshal(line, &hdr); err != nil || hdr.Magic != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: %s is not a hull snapshot", ErrSnapshot, path)
	}
	if hdr.Format != snapshotFormat {
		return nil, nil, fmt.Errorf("%w: %s has snapshot format %d, this hull reads format %d", ErrSnapshot, path, hdr.Format, snapshotFormat)
	}
	if v := hullVersion(); hdr.HullVersion != v {
		return nil, nil, fmt.Errorf("%w: %s was taken by hull %s, this is hull %s", ErrSnapshot, path, hdr.HullVersion, v)
	}
	if hdr.StateSize <= 0 || hdr.StateSize > maxStateSize {
		return nil, nil, fmt.Errorf("%w: %s: state size %d out of range", ErrSnapshot, path, hdr.StateSize)
	}
	body := make([]byte, hdr.StateSize)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, nil, fmt.Errorf("%w: %s is truncated: %v", ErrSnapshot, path, err)
	}
	if n, _ := br.Read(make([]byte, 1)); n != 0 {
		return nil, nil, fmt.Errorf("%w: %s has bytes after its state", ErrSnapshot, path)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != hdr.StateSHA256 {
		return nil, nil, fmt.Errorf("%w: %s is corrupted (checksum mismatch)", ErrSnapshot, path)
	}
	var st machineState
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&st); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: decoding the state: %v", ErrSnapshot, path, err)
	}
	if len(st.VCPUs) != hdr.Config.CPUs || st.VM == nil || len(st.Virtio) != len(hdr.Devices) {
		return nil, nil, fmt.Errorf("%w: %s: the state does not match its header", ErrSnapshot, path)
	}
	return &hdr, &st, nil
}

// restoredConfig is the snapshotted VM's configuration with rc's overrides.
func restoredConfig(hdr *snapshotHeader, rc *RestoreConfig) (Config, error) {
	s := hdr.Config
	cfg := Config{
		Kernel: "(snapshot " + rc.Dir + ")", Cmdline: s.Cmdline, MemMiB: s.MemMiB, CPUs: s.CPUs,
		Disks: slices.Clone(s.Disks), Nets: slices.Clone(s.Nets), Shares: slices.Clone(s.Shares), RNG: s.RNG,
		TestExitPort: s.TestExitPort, Console: rc.Console, ConsoleIn: rc.ConsoleIn, ReadyMarker: rc.ReadyMarker,
		KVMPath: rc.KVMPath, CheckHost: rc.CheckHost, Start: rc.Start, Log: rc.Log,
	}
	if s.Vsock != nil {
		v := *s.Vsock
		if rc.VsockUDS != "" {
			v.UDSPath = rc.VsockUDS
		}
		cfg.Vsock = &v
	} else if rc.VsockUDS != "" {
		return cfg, fmt.Errorf("%w: the snapshotted VM has no vsock device", ErrConfig)
	}
	if rc.Disks != nil {
		if len(rc.Disks) != len(s.Disks) {
			return cfg, fmt.Errorf("%w: the snapshotted VM has %d disks, %d given", ErrConfig, len(s.Disks), len(rc.Disks))
		}
		cfg.Disks = slices.Clone(rc.Disks)
	}
	if rc.Nets != nil {
		if len(rc.Nets) != len(s.Nets) {
			return cfg, fmt.Errorf("%w: the snapshotted VM has %d network devices, %d given", ErrConfig, len(s.Nets), len(rc.Nets))
		}
		for i := range rc.Nets {
			n := rc.Nets[i]
			n.MAC = s.Nets[i].MAC // the guest's driver holds the old one
			cfg.Nets[i] = n
		}
	}
	for _, sh := range rc.Shares {
		i := slices.IndexFunc(cfg.Shares, func(x Share) bool { return x.Tag == sh.Tag })
		if i < 0 {
			return cfg, fmt.Errorf("%w: the snapshotted VM has no share tagged %q", ErrConfig, sh.Tag)
		}
		cfg.Shares[i] = sh
	}
	return cfg, nil
}

// buildRestored is build for a snapshot: guest RAM mapped from the memory
// file instead of a kernel loaded, and every state set from st.
func buildRestored(c Config, hdr *snapshotHeader, st *machineState, dir string) (*machine, error) {
	load := func(m *machine) error {
		names := make([]string, len(m.virtio))
		for i, d := range m.virtio {
			names[i] = d.name
		}
		if !slices.Equal(names, hdr.Devices) {
			return fmt.Errorf("%w: devices %v, the snapshot has %v", ErrSnapshot, names, hdr.Devices)
		}
		ranges, err := boot.MemoryRanges(uint64(m.cfg.MemMiB) << 20)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSnapshot, err)
		}
		if !slices.Equal(ranges, hdr.Memory) || guestmem.FileSize(ranges...) != hdr.MemFileSize {
			return fmt.Errorf("%w: memory layout %v, the snapshot has %v", ErrSnapshot, hdr.Memory, ranges)
		}
		memf, err := os.Open(filepath.Join(dir, memoryFile))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSnapshot, err)
		}
		defer memf.Close()
		if m.mem, err = guestmem.NewFile(memf, ranges...); err != nil {
			return fmt.Errorf("%w: %v", ErrSnapshot, err)
		}
		return nil
	}
	finish := func(m *machine) error {
		if m.cpuidHash != hdr.CPUID {
			return fmt.Errorf("%w: this host's CPU features differ from those of the host the snapshot was taken on", ErrSnapshot)
		}
		if err := m.restoreState(st); err != nil {
			return fmt.Errorf("%w: %v", ErrSnapshot, err)
		}
		m.rec.mark(EventRestored)
		return nil
	}
	return buildWith(c, load, finish)
}

// restoreState sets every state captureState read, on a machine built
// from the same configuration.
func (m *machine) restoreState(st *machineState) error {
	if err := m.restoreVMState(st.VM); err != nil {
		return err
	}
	for i, c := range m.vcpus {
		if err := c.restoreState(st.VCPUs[i]); err != nil {
			return fmt.Errorf("vCPU %d: %w", c.id, err)
		}
	}
	if err := m.restoreLegacy(st.Legacy); err != nil {
		return err
	}
	for i, d := range m.virtio {
		if st.Virtio[i].Name != d.name {
			return fmt.Errorf("virtio device %d is %s, the snapshot's is %s", i, d.name, st.Virtio[i].Name)
		}
		if err := d.mmio.RestoreState(st.Virtio[i].MMIO); err != nil {
			return fmt.Errorf("virtio %s: %w", d.name, err)
		}
		// RestoreState leaves the transport paused; it serves its queues
		// from here on (a vsock device has queued its TRANSPORT_RESET: the
		// guest's connections to the host did not survive).
		if err := d.mmio.Resume(); err != nil {
			return fmt.Errorf("virtio %s: %w", d.name, err)
		}
	}
	return nil
}
