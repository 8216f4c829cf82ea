package vmsandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmm"
	"github.com/hullvm/hull/vmm/api"
)

// Templates (docs/snapshot.md): a container's VM is restored from a
// snapshot of the default image taken once its agent was ready, instead of
// booting. One template per image, hull binary, memory size and vCPU count
// lives under <root>/.templates/<key>/snapshot; the first container that
// needs it boots the template VM (under a lock: concurrent creates wait for
// it), snapshots it and stops it. The bundle's rootfs is attached after the
// restore: the template's 9p share points at an empty directory that no
// guest ever mounted, and the restore points it at the bundle; so does the
// bind mounts' share (mounts.go), at the container's <dir>/mounts.

// TemplatesDir is the directory of the templates under a --root.
const TemplatesDir = ".templates"

// templateCmdline is the command line of every template VM: the container
// sets its own hostname in its UTS namespace.
const templateCmdline = "console=ttyS0 reboot=k panic=-1 quiet hull.hostname=hull"

// useTemplate says whether the container's VM can come from a template:
// no network device (a TAP is per container and the guest's eth0 is set up
// at create anyway, but the template has none), and a hostname that is the
// container's own business (a UTS namespace) or the default.
func useTemplate(spec *specs.Spec, cfg *vmm.Config) bool {
	if v, ok := spec.Annotations[runtime.AnnotationVMTemplate]; ok && v == "false" {
		return false
	}
	if len(cfg.Nets) > 0 {
		return false
	}
	if spec.Hostname == "" {
		return true
	}
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.UTSNamespace && ns.Path == "" {
				return true
			}
		}
	}
	return false
}

// templateKey names the template for cfg: the image files, this hull
// binary, memory and vCPUs.
func templateKey(cfg *vmm.Config) string {
	h := sha256.New()
	for _, k := range keyInputs(cfg) { // prune.go
		if k.Size < 0 {
			fmt.Fprintf(h, "%s ?\n", k.Path)
			continue
		}
		fmt.Fprintf(h, "%s %d %d\n", k.Path, k.Size, k.ModTime)
	}
	fmt.Fprintf(h, "mem %d cpus %d cid %d\n", cfg.MemMiB, cfg.CPUs, cfg.Vsock.CID)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// startVM starts the container's VM: restored from a template where it can
// be, else booted. A template that cannot be made or restored is logged and
// the VM booted: the container starts either way.
func (h *vmHost) startVM(ctx context.Context, cfg vmm.Config, spec *specs.Spec) (*vmm.VM, error) {
	if !useTemplate(spec, &cfg) {
		return vmm.Start(ctx, cfg)
	}
	snap, err := h.template(ctx, cfg)
	if err != nil {
		h.log.Printf("template: %v; booting instead", err)
		return vmm.Start(ctx, cfg)
	}
	vm, err := vmm.Restore(ctx, vmm.RestoreConfig{
		Dir: snap, VsockUDS: cfg.Vsock.UDSPath, Shares: cfg.Shares,
		Console: cfg.Console, Start: cfg.Start, Log: cfg.Log,
	})
	if err != nil {
		h.log.Printf("restoring template %s: %v; booting instead", snap, err)
		if errors.Is(err, vmm.ErrSnapshot) {
			os.RemoveAll(filepath.Dir(snap)) // stale (another hull, another host): the next create makes a new one
		}
		return vmm.Start(ctx, cfg)
	}
	h.restored = true
	h.phase(runtime.PhaseRestored)
	return vm, nil
}

// template returns the snapshot directory of cfg's template, making it
// first if there is none.
func (h *vmHost) template(ctx context.Context, cfg vmm.Config) (string, error) {
	tdir := filepath.Join(filepath.Dir(h.dir), TemplatesDir, templateKey(&cfg))
	snap := filepath.Join(tdir, "snapshot")
	if _, err := os.Stat(filepath.Join(snap, "state")); err == nil {
		return snap, nil
	}
	if err := os.MkdirAll(tdir, 0o700); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(tdir+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := flockTimeout(lock, h.bootTimeout+time.Minute); err != nil {
		return "", fmt.Errorf("waiting for another create making the template: %w", err)
	}
	if _, err := os.Stat(filepath.Join(snap, "state")); err == nil {
		return snap, nil // made while this one waited
	}
	t0 := time.Now()
	if err := h.makeTemplate(ctx, cfg, tdir, snap); err != nil {
		return "", err
	}
	h.log.Printf("template %s made in %v", snap, time.Since(t0).Round(time.Millisecond))
	if err := writeInputs(tdir, &cfg); err != nil {
		h.log.Printf("template %s: recording its inputs: %v", tdir, err)
	}
	// Templates of an image or hull binary that changed are never asked
	// for again (prune.go).
	removed, err := pruneTemplates(filepath.Dir(tdir), filepath.Base(tdir))
	if len(removed) > 0 || err != nil {
		h.log.Printf("removed %d stale templates %v (%v)", len(removed), removed, err)
	}
	return snap, nil
}

// makeTemplate boots the template VM, waits for its agent, snapshots it
// into snap and stops it.
func (h *vmHost) makeTemplate(ctx context.Context, cfg vmm.Config, tdir, snap string) error {
	// The template VM's vsock socket and empty rootfs: in a short private
	// directory (a Unix socket path is short, and --root may be long).
	base := "/dev/shm" // tmpfs: a socket binds there on any host
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = ""
	}
	work, err := os.MkdirTemp(base, "hull-tmpl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, d := range []string{"rootfs", runtime.MountsDir} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			return err
		}
	}
	console, err := os.Create(filepath.Join(tdir, "console.log"))
	if err != nil {
		return err
	}
	defer console.Close()
	tcfg := cfg
	tcfg.Cmdline = templateCmdline
	tcfg.Console = console
	tcfg.Vsock = &vmm.Vsock{CID: cfg.Vsock.CID, UDSPath: filepath.Join(work, runtime.VsockFile)}
	tcfg.Shares = []vmm.Share{{Tag: runtime.RootfsTag, Path: filepath.Join(work, "rootfs")},
		{Tag: runtime.MountsTag, Path: filepath.Join(work, runtime.MountsDir)}}
	tcfg.Nets = nil
	tcfg.Start = time.Now()
	vm, err := vmm.Start(ctx, tcfg)
	if err != nil {
		return err
	}
	defer func() {
		vm.Stop()
		vm.Wait()
	}()
	cl, _, err := h.agentWait(work, func() (string, bool) {
		select {
		case <-vm.Done():
			return vm.Wait().String(), true
		default:
			return "", false
		}
	}).wait()
	if err != nil {
		return fmt.Errorf("template VM: %w (console: %s)", err, console.Name())
	}
	cl.Close()
	if err := vm.Pause(); err != nil {
		return err
	}
	tmp := snap + ".new"
	os.RemoveAll(tmp)
	if _, err := vm.Snapshot(api.SnapshotRequest{Dir: tmp}); err != nil {
		return err
	}
	return os.Rename(tmp, snap)
}

// flockTimeout takes an exclusive lock on f, giving up after d.
func flockTimeout(f *os.File, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lock %s held for more than %v", f.Name(), d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendRestored tells the agent of a restored VM the time and gives it
// fresh randomness.
func (h *vmHost) sendRestored(cl *proto.Client) error {
	seed := make([]byte, 64)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	args := &proto.RestoredArgs{RealtimeNs: time.Now().UnixNano(), Entropy: seed}
	if _, err := cl.Call(proto.OpRestored, args, nil); err != nil {
		return fmt.Errorf("the restored guest's agent: %w", err)
	}
	return nil
}
