package oci

import (
	"bufio"
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// unmountUnder detaches every mount at or below dir and returns their
// mount points. A program that asks for no mount namespace
// (linux_ns_itype) gets the config's /proc, /dev, /sys mounts, and the
// bundle's own bind mount, in the host's mount namespace; `delete` does
// not undo them, and removing the bundle would then walk into /proc and
// /sys. Deepest first, MNT_DETACH so a busy one cannot block the run.
func unmountUnder(dir string) []string {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	points := mountsUnder(info, dir)
	for _, p := range points {
		_ = unix.Unmount(p, unix.MNT_DETACH) // best effort; RemoveAll reports what stays
	}
	return points
}

// mountsUnder parses mountinfo and returns the mount points at or below
// dir, deepest first.
func mountsUnder(mountinfo []byte, dir string) []string {
	dir = strings.TrimRight(dir, "/")
	var points []string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		p := unescapeMountinfo(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.SliceStable(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return points
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
