package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
)

// Stats is what `hull events --stats` reports, read from the cgroup's
// interface files. Counters of a controller the cgroup lacks are zero.
type Stats struct {
	CPU    CPUStats
	Memory MemoryStats
	Pids   PidsStats
}

// CPUStats is cpu.stat, in microseconds as the kernel gives them (runc's
// events report nanoseconds: multiply by 1000).
type CPUStats struct {
	UsageUsec     uint64
	UserUsec      uint64
	SystemUsec    uint64
	NrPeriods     uint64
	NrThrottled   uint64
	ThrottledUsec uint64
}

// MemoryStats is memory.current/.max/.peak, the swap files, memory.events'
// oom_kill and memory.stat. Limits read "max" are math.MaxUint64.
type MemoryStats struct {
	Usage     uint64
	Limit     uint64
	Peak      uint64 // Linux 5.19; 0 before
	SwapUsage uint64
	SwapLimit uint64
	OOMKills  uint64
	Stat      map[string]uint64
}

// PidsStats is pids.current and pids.max; a limit of "max" reads 0, as in
// runc's stats.
type PidsStats struct {
	Current uint64
	Limit   uint64
}

// Stats reads the cgroup's statistics. A missing file (controller not
// enabled, older kernel) leaves its fields zero; other errors are
// returned, with the stats read so far.
func (c *Cgroup) Stats() (*Stats, error) {
	s := &Stats{Memory: MemoryStats{Stat: map[string]uint64{}}}
	var errs []error
	keep := func(err error) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	num := func(file string, dst *uint64) {
		v, err := readUint(c.dir, file)
		if err == nil {
			*dst = v
		}
		keep(err)
	}
	keyed := func(file string, fields map[string]*uint64) {
		m, err := readKeyed(c.dir, file)
		keep(err)
		for k, dst := range fields {
			if v, ok := m[k]; ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %w", file, k, err))
					continue
				}
				*dst = n
			}
		}
	}

	keyed("cpu.stat", map[string]*uint64{
		"usage_usec": &s.CPU.UsageUsec, "user_usec": &s.CPU.UserUsec, "system_usec": &s.CPU.SystemUsec,
		"nr_periods": &s.CPU.NrPeriods, "nr_throttled": &s.CPU.NrThrottled, "throttled_usec": &s.CPU.ThrottledUsec,
	})
	num("memory.current", &s.Memory.Usage)
	num("memory.max", &s.Memory.Limit)
	num("memory.peak", &s.Memory.Peak)
	num("memory.swap.current", &s.Memory.SwapUsage)
	num("memory.swap.max", &s.Memory.SwapLimit)
	keyed("memory.events", map[string]*uint64{"oom_kill": &s.Memory.OOMKills})
	if m, err := readKeyed(c.dir, "memory.stat"); err == nil {
		for k, v := range m {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				s.Memory.Stat[k] = n
			}
		}
	} else {
		keep(err)
	}
	num("pids.current", &s.Pids.Current)
	num("pids.max", &s.Pids.Limit)
	if s.Pids.Limit == math.MaxUint64 {
		s.Pids.Limit = 0
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("cgroup %s: stats: %w", c.path, errors.Join(errs...))
	}
	return s, nil
}
