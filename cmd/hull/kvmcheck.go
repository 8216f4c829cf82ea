package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullvm/hull/hostcheck"
	"github.com/hullvm/hull/internal/atomicfile"
)

// checkCacheDir holds the cached verdict of the host probe, one file per
// host boot: KVM cannot change kind without a reboot.
var checkCacheDir = "/run/hull"

type cachedVerdict struct {
	BootID  string `json:"boot_id"`
	KVMPath string `json:"kvm_path"`
	Verdict int    `json:"verdict"` // hostcheck.Verdict
	Line    string `json:"line"`
}

// usableKVM refuses, within seconds, a host where a Linux guest cannot run:
// no or broken KVM, or a KVM that emulates guest kernel code (DESIGN.md §4),
// unless allowEmulated. The probe's verdict is cached per host boot, so only
// the first boot after a host reboot pays for it (a few ms on healthy KVM).
func usableKVM(kvmPath string, allowEmulated bool) error {
	v, line := verdictFor(kvmPath)
	switch v {
	case hostcheck.Healthy:
		return nil
	case hostcheck.Emulated:
		if allowEmulated {
			return nil
		}
		return fmt.Errorf("%s (--allow-emulated boots anyway)", line)
	default:
		return errors.New(line)
	}
}

func verdictFor(kvmPath string) (hostcheck.Verdict, string) {
	bootID := readBootID()
	file := filepath.Join(checkCacheDir, "hostcheck.json")
	if bootID != "" {
		if b, err := os.ReadFile(file); err == nil {
			var c cachedVerdict
			if json.Unmarshal(b, &c) == nil && c.BootID == bootID && c.KVMPath == kvmPath {
				return hostcheck.Verdict(c.Verdict), c.Line
			}
		}
	}
	r := hostcheck.Run(hostcheck.Options{KVMPath: kvmPath})
	// Only a healthy or emulated verdict is a property of the host worth
	// keeping; a missing /dev/kvm may be fixed by loading a module.
	if bootID != "" && (r.Verdict == hostcheck.Healthy || r.Verdict == hostcheck.Emulated) {
		saveVerdict(file, cachedVerdict{BootID: bootID, KVMPath: kvmPath, Verdict: int(r.Verdict), Line: r.VerdictLine()})
	}
	return r.Verdict, r.VerdictLine()
}

// saveVerdict writes the cache best effort: without it every boot probes again.
func saveVerdict(file string, c cachedVerdict) {
	b, err := json.Marshal(c)
	if err != nil || os.MkdirAll(filepath.Dir(file), 0o755) != nil {
		return
	}
	// Best effort: without the cache every boot probes again.
	_ = atomicfile.Write(file, func(w io.Writer) error { _, err := w.Write(b); return err })
}

func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
