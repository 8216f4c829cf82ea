package vmm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/hullvm/hull/guestmem"
)

// MemStats is the VMM process's memory when the VM stopped: its resident set
// and how much of it is guest RAM. VMMRSS - GuestResident is what the VMM
// itself costs (code, heap, stacks, KVM's kvm_run pages...).
type MemStats struct {
	VMMRSS        uint64 `json:"vmm_rss"`        // VmRSS of this process, bytes
	GuestResident uint64 `json:"guest_resident"` // bytes of guest RAM resident in this process
}

// Overhead returns the VMM's own resident memory: VMMRSS - GuestResident,
// 0 if the guest's share is (by rounding or a race) the larger one.
func (s MemStats) Overhead() uint64 {
	if s.GuestResident > s.VMMRSS {
		return 0
	}
	return s.VMMRSS - s.GuestResident
}

// mincoreChunk bounds the mincore vector: 1 GiB of guest RAM at a time
// (256 KiB of vector with 4 KiB pages).
const mincoreChunk = 1 << 30

// measureMemory reads this process's VmRSS from /proc/self/status and counts
// the resident pages of every guest RAM region with mincore(2)
// (memstat_unsafe.go).
//
// A guest page counts once it has been touched, by the guest or by the VMM.
// mincore also counts a page that was only ever read and so maps the shared
// zero page, which VmRSS does not: for a guest that reads memory it never
// wrote, GuestResident can exceed what the guest adds to VmRSS, and the
// overhead is then slightly underestimated.
func measureMemory(mem *guestmem.Memory) (MemStats, error) {
	var s MemStats
	rss, err := readVmRSS("/proc/self/status")
	if err != nil {
		return s, err
	}
	s.VMMRSS = rss
	page := uint64(os.Getpagesize())
	var vec []byte
	for _, r := range mem.Regions() {
		for off := 0; off < len(r.Host); off += mincoreChunk {
			b := r.Host[off:min(off+mincoreChunk, len(r.Host))]
			n := (len(b) + int(page) - 1) / int(page)
			if cap(vec) < n {
				vec = make([]byte, n)
			}
			vec = vec[:n]
			if errno := mincore(b, vec); errno != 0 {
				return s, fmt.Errorf("mincore on guest RAM at %#x: %w", uint64(r.Base)+uint64(off), errno)
			}
			for _, v := range vec {
				if v&1 != 0 {
					s.GuestResident += page
				}
			}
		}
	}
	return s, nil
}

// readVmRSS returns the VmRSS line of a /proc/PID/status file, in bytes.
func readVmRSS(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("VMM resident memory: %w", err)
	}
	return parseVmRSS(data)
}

// parseVmRSS finds "VmRSS:  <n> kB" in the contents of a status file.
func parseVmRSS(status []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VMM resident memory: malformed line %q", sc.Text())
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil || kb > 1<<53 {
			return 0, fmt.Errorf("VMM resident memory: malformed line %q", sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("VMM resident memory: no VmRSS line in /proc/self/status")
}
