package container

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// mountInfo is one line of /proc/<pid>/mountinfo (proc(5)).
type mountInfo struct {
	id, parent int
	root       string // the mounted file system's directory shown here
	mountpoint string
	optional   []string // "shared:N", "master:N", ...
	fstype     string
	source     string
}

func (m mountInfo) shared() bool {
	for _, o := range m.optional {
		if strings.HasPrefix(o, "shared:") {
			return true
		}
	}
	return false
}

func readMountinfo(path string) ([]mountInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo parses mountinfo text:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountinfo(r io.Reader) ([]mountInfo, error) {
	var out []mountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 7 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n, sc.Text())
		}
		id, err1 := strconv.Atoi(fields[0])
		parent, err2 := strconv.Atoi(fields[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d: bad mount ids: %q", n, sc.Text())
		}
		out = append(out, mountInfo{
			id:         id,
			parent:     parent,
			root:       unescapeOctal(fields[3]),
			mountpoint: unescapeOctal(fields[4]),
			optional:   fields[6:sep],
			fstype:     fields[sep+1],
			source:     unescapeOctal(fields[sep+2]),
		})
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escapes of space, tab, newline
// and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount that holds path (absolute, clean, symlinks
// resolved): the last-mounted entry with the longest mount point that is
// path or one of its parents.
func mountOf(mounts []mountInfo, path string) (mountInfo, bool) {
	best, found := mountInfo{}, false
	for _, m := range mounts {
		if !pathWithin(path, m.mountpoint) {
			continue
		}
		if !found || len(m.mountpoint) >= len(best.mountpoint) {
			best, found = m, true
		}
	}
	return best, found
}

// pathWithin reports whether path is dir or below it (both clean and absolute).
func pathWithin(path, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}
