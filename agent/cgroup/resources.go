package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Apply writes the resource limits of r (nil: nothing) into the cgroup's
// interface files, converting the OCI (cgroup v1 shaped) values as runc
// does:
//
//   - pids.limit → pids.max (negative: "max"; 0 is a real limit of 0);
//   - memory.limit → memory.max, reservation → memory.low, swap (memory +
//     swap) → memory.swap.max = swap - limit; -1 is "max"; checkBeforeUpdate
//     refuses a limit at or below memory.current;
//   - blockIO.weight → io.bfq.weight as is when BFQ is there, else
//     io.weight scaled from [10, 1000] to [1, 10000]; weightDevice the same
//     per device; throttle*Device → io.max;
//   - cpu.shares → cpu.weight (CPUWeight), quota/period → cpu.max, burst →
//     cpu.max.burst, idle → cpu.idle, cpus/mems → cpuset.cpus/.mems;
//     realtime limits fail (cgroup v1 only);
//   - hugepageLimits → hugetlb.<size>.max, and .rsvd.max where present;
//   - rdma → rdma.max;
//   - unified: each file written verbatim, one write per line, after
//     everything else (so it overrides).
//
// A resource whose controller the cgroup lacks fails with a
// ControllerError. Apply stops at the first error; the files written
// before it keep their new values.
func (c *Cgroup) Apply(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	for _, set := range []func(*specs.LinuxResources) error{
		c.setPids, c.setMemory, c.setIO, c.setCPU, c.setHugetlb, c.setRdma, c.setUnified,
	} {
		if err := set(r); err != nil {
			return err
		}
	}
	return nil
}

// set writes one interface file of controller ctrl.
func (c *Cgroup) set(ctrl, file, value string) error {
	err := writeFile(c.dir, file, value)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return c.controllerError(ctrl, file, err)
	}
	return fmt.Errorf("cgroup %s: writing %q to %s: %w", c.path, value, file, err)
}

func (c *Cgroup) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	v := "max"
	if *r.Pids.Limit >= 0 {
		v = strconv.FormatInt(*r.Pids.Limit, 10)
	}
	return c.set("pids", "pids.max", v)
}

func (c *Cgroup) setMemory(r *specs.LinuxResources) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	limit, swap, low := deref(m.Limit), deref(m.Swap), deref(m.Reservation)
	if limit == 0 && swap == 0 && low == 0 {
		return nil
	}
	if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && (limit > 0 || swap > 0) {
		if usage, err := readUint(c.dir, "memory.current"); err == nil {
			if limit > 0 && uint64(limit) <= usage {
				return fmt.Errorf("cgroup %s: memory limit %d is not above the current usage %d", c.path, limit, usage)
			}
			if swap > 0 && uint64(swap) <= usage {
				return fmt.Errorf("cgroup %s: memory+swap limit %d is not above the current usage %d", c.path, swap, usage)
			}
		}
	}
	swapMax, err := SwapMax(swap, limit)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	v := limitString(swapMax)
	if v == "" && swap > 0 {
		v = "0" // swap == limit: no swap at all
	}
	if v != "" {
		err := c.set("memory", "memory.swap.max", v)
		// Without swap accounting the file is absent; "no swap" and
		// "unlimited swap" are then true anyway.
		if err != nil && !(errors.Is(err, fs.ErrNotExist) && (v == "max" || v == "0")) {
			return err
		}
	}
	if v := limitString(limit); v != "" {
		if err := c.set("memory", "memory.max", v); err != nil {
			return err
		}
	}
	if v := limitString(low); v != "" {
		if err := c.set("memory", "memory.low", v); err != nil {
			return err
		}
	}
	return nil
}

// limitString: 0 is "not set" (""), -1 is "max".
func limitString(v int64) string {
	switch v {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// SwapMax converts the OCI swap limit (memory + swap, cgroup v1's
// memory.memsw.limit_in_bytes) into cgroup v2's memory.swap.max (swap
// alone), as runc's ConvertMemorySwapToCgroupV2Value: 0 is "unset", -1
// "max"; unlimited memory with unset swap means unlimited swap too.
func SwapMax(swap, limit int64) (int64, error) {
	switch {
	case limit == -1 && swap == 0:
		return -1, nil
	case swap == -1 || swap == 0:
		return swap, nil
	case limit == -1:
		return swap, nil
	case limit == 0:
		return 0, errors.New("a swap limit needs a memory limit")
	case limit < 0:
		return 0, fmt.Errorf("invalid memory limit %d", limit)
	case swap < limit:
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}

// CPUWeight converts cgroup v1 cpu.shares ([2, 262144], default 1024) to
// cgroup v2 cpu.weight ([1, 10000], default 100) with the formula runc
// uses since 1.3.2 (opencontainers/runc#4785), which maps the defaults
// onto each other: weight = ⌈10^((L² + 125·L)/612 − 7/34)⌉, L = log2(shares).
// 0 means unset and stays 0.
func CPUWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	exp := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exp)))
}

// IOWeight converts a blkio weight ([10, 1000]) to io.weight ([1, 10000])
// linearly, as runc's ConvertBlkIOToIOWeightValue; 0 stays 0.
func IOWeight(blkio uint16) uint64 {
	if blkio == 0 {
		return 0
	}
	return 1 + (uint64(blkio)-10)*9999/990
}

func (c *Cgroup) setIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	// BFQ takes the v1 range as is; the io controller's own weight needs
	// converting.
	weight := func(dev string, w uint16) error {
		v := strconv.FormatUint(uint64(w), 10)
		err := writeFile(c.dir, "io.bfq.weight", dev+v)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return fmt.Errorf("cgroup %s: writing %q to io.bfq.weight: %w", c.path, dev+v, err)
			}
			return nil
		}
		return c.set("io", "io.weight", dev+strconv.FormatUint(IOWeight(w), 10))
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := weight("", *b.Weight); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil && *d.Weight != 0 {
			if err := weight(fmt.Sprintf("%d:%d ", d.Major, d.Minor), *d.Weight); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			v := strconv.FormatUint(d.Rate, 10)
			if d.Rate == 0 {
				v = "max"
			}
			if err := c.set("io", "io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, v)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cgroup) setCPU(r *specs.LinuxResources) error {
	cpu := r.CPU
	if cpu == nil {
		return nil
	}
	if deref(cpu.RealtimeRuntime) != 0 || deref(cpu.RealtimePeriod) != 0 {
		return fmt.Errorf("cgroup %s: realtime CPU limits (realtimeRuntime, realtimePeriod) exist only in cgroup v1: %w",
			c.path, errors.ErrUnsupported)
	}
	if cpu.Idle != nil {
		if err := c.set("cpu", "cpu.idle", strconv.FormatInt(*cpu.Idle, 10)); err != nil {
			return err
		}
	}
	if w := CPUWeight(deref(cpu.Shares)); w != 0 {
		if err := c.set("cpu", "cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	if v := CPUMax(deref(cpu.Quota), deref(cpu.Period)); v != "" {
		if err := c.set("cpu", "cpu.max", v); err != nil {
			return err
		}
	}
	if cpu.Burst != nil {
		if err := c.set("cpu", "cpu.max.burst", strconv.FormatUint(*cpu.Burst, 10)); err != nil {
			return err
		}
	}
	if cpu.Cpus != "" {
		if err := c.set("cpuset", "cpuset.cpus", cpu.Cpus); err != nil {
			return err
		}
	}
	if cpu.Mems != "" {
		if err := c.set("cpuset", "cpuset.mems", cpu.Mems); err != nil {
			return err
		}
	}
	return nil
}

// CPUMax is the cpu.max line for a CFS quota and period (µs), as runc
// writes it: "" when neither is set; a quota of 0 or below is "max"; a
// period of 0 is left out, keeping the kernel's current period.
func CPUMax(quota int64, period uint64) string {
	if quota == 0 && period == 0 {
		return ""
	}
	v := "max"
	if quota > 0 {
		v = strconv.FormatInt(quota, 10)
	}
	if period != 0 {
		v += " " + strconv.FormatUint(period, 10)
	}
	return v
}

func (c *Cgroup) setHugetlb(r *specs.LinuxResources) error {
	for _, h := range r.HugepageLimits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/.") {
			return fmt.Errorf("cgroup %s: invalid hugepage size %q", c.path, h.Pagesize)
		}
		v := strconv.FormatUint(h.Limit, 10)
		if err := c.set("hugetlb", "hugetlb."+h.Pagesize+".max", v); err != nil {
			return err
		}
		// Reservation limits (Linux 5.7) where the kernel has them.
		err := writeFile(c.dir, "hugetlb."+h.Pagesize+".rsvd.max", v)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cgroup %s: writing hugetlb.%s.rsvd.max: %w", c.path, h.Pagesize, err)
		}
	}
	return nil
}

func (c *Cgroup) setRdma(r *specs.LinuxResources) error {
	devs := make([]string, 0, len(r.Rdma))
	for d := range r.Rdma {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	for _, d := range devs {
		l := r.Rdma[d]
		var parts []string
		if l.HcaHandles != nil {
			parts = append(parts, fmt.Sprintf("hca_handle=%d", *l.HcaHandles))
		}
		if l.HcaObjects != nil {
			parts = append(parts, fmt.Sprintf("hca_object=%d", *l.HcaObjects))
		}
		if len(parts) == 0 || strings.ContainsAny(d, " \n") {
			continue
		}
		if err := c.set("rdma", "rdma.max", d+" "+strings.Join(parts, " ")); err != nil {
			return err
		}
	}
	return nil
}

// setUnified writes linux.resources.unified: file names must be plain
// "<controller>.<name>" (or "cgroup.<name>", core files); values are
// written as given, one write per line, in sorted key order.
func (c *Cgroup) setUnified(r *specs.LinuxResources) error {
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ctrl, _, ok := strings.Cut(k, ".")
		if !ok || ctrl == "" || strings.ContainsAny(k, "/\x00") || k == ".." {
			return fmt.Errorf("cgroup %s: unified resource %q: want a file name of the form controller.name", c.path, k)
		}
		for _, line := range strings.Split(r.Unified[k], "\n") {
			if line == "" {
				continue
			}
			err := writeFile(c.dir, k, line)
			switch {
			case err == nil:
				continue
			case errors.Is(err, fs.ErrNotExist) && ctrl != "cgroup":
				return c.controllerError(ctrl, k, err)
			}
			return fmt.Errorf("cgroup %s: unified resource %s = %q: %w", c.path, k, line, err)
		}
	}
	return nil
}
