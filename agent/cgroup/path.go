package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strings"
)

// DefaultPath is the cgroup hull uses for a container whose config has no
// cgroupsPath: /hull/<id>.
func DefaultPath(id string) string { return "/hull/" + id }

// Resolve maps a cgroupsPath to a path in the cgroup hierarchy (beginning
// with "/"), as runc does:
//
//   - "/a/b": taken from the hierarchy's root, after cleaning ("/../x" is
//     "/x": a path cannot leave the hierarchy);
//   - "a/b": under the parent of the caller's own cgroup (read from
//     /proc/self/cgroup; runc takes the parent because the caller's own
//     cgroup already holds processes, so by the "no internal processes"
//     rule it could not delegate controllers to a child);
//   - "slice:prefix:name" (runc --systemd-cgroup): see SystemdPath;
//   - "": ErrEmptyPath, the caller picks a default (DefaultPath).
//
// self is the caller's own cgroup path; it is only needed for relative
// paths.
func Resolve(cgroupsPath string, self func() (string, error)) (string, error) {
	switch {
	case cgroupsPath == "":
		return "", ErrEmptyPath
	case isSystemd(cgroupsPath):
		return SystemdPath(cgroupsPath)
	}
	var p string
	if strings.HasPrefix(cgroupsPath, "/") {
		p = path.Clean(cgroupsPath)
	} else {
		own, err := self()
		if err != nil {
			return "", err
		}
		// Clean under "/" first so that ".." cannot climb above the base.
		p = path.Join(path.Dir(path.Clean("/"+own)), path.Clean("/"+cgroupsPath))
	}
	if p == "/" {
		return "", fmt.Errorf("%w: %q is the hierarchy's root", ErrInvalidPath, cgroupsPath)
	}
	return p, nil
}

// isSystemd: a relative path with exactly two colons is runc's systemd
// form. Plain cgroupfs paths with colons are legal but nobody uses them.
func isSystemd(p string) bool {
	return !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2
}

// SystemdPath maps runc's systemd cgroupsPath "slice:prefix:name" to the
// directory systemd uses for that unit: the slice expanded into its
// parents ("a-b.slice" → "/a.slice/a-b.slice"; "" → "system.slice"), then
// "prefix-name.scope", or name itself when it ends in ".slice". hull does
// not ask systemd to create the unit (no D-Bus); it uses the directory.
func SystemdPath(p string) (string, error) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: %q: want slice:prefix:name", ErrInvalidPath, p)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if name == "" || strings.Contains(name, "/") || strings.Contains(prefix, "/") {
		return "", fmt.Errorf("%w: %q: bad unit name", ErrInvalidPath, p)
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", err
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		// runc's unit name, even with an empty prefix ("-name.scope").
		unit = prefix + "-" + name + ".scope"
	}
	return path.Join(dir, unit), nil
}

// expandSlice turns "a-b-c.slice" into "/a.slice/a-b.slice/a-b-c.slice",
// as systemd and runc do; "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	const suffix = ".slice"
	name, ok := strings.CutSuffix(slice, suffix)
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("%w: invalid slice name %q", ErrInvalidPath, slice)
	}
	if name == "-" {
		return "/", nil
	}
	var b strings.Builder
	prefix := ""
	for _, c := range strings.Split(name, "-") {
		if c == "" {
			return "", fmt.Errorf("%w: invalid slice name %q", ErrInvalidPath, slice)
		}
		b.WriteString("/" + prefix + c + suffix)
		prefix += c + "-"
	}
	return b.String(), nil
}

// ownCgroup reads the caller's cgroup v2 path from a /proc/<pid>/cgroup
// file: the "0::<path>" line.
func ownCgroup(procFile string) (string, error) {
	data, err := os.ReadFile(procFile)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s has no cgroup v2 (0::) entry", ErrNoCgroup2, procFile)
}
