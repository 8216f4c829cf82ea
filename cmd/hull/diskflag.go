package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hullvm/hull/vmm"
)

// parseDisk parses one --disk value: PATH[,ro]. Paths with a comma are not
// supported.
func parseDisk(s string) (vmm.Disk, error) {
	path, opts, hasOpts := strings.Cut(s, ",")
	if path == "" {
		return vmm.Disk{}, errors.New("want PATH[,ro], the path is empty")
	}
	d := vmm.Disk{Path: path}
	if !hasOpts {
		return d, nil
	}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "ro":
			d.ReadOnly = true
		case "rw":
			d.ReadOnly = false
		default:
			return vmm.Disk{}, fmt.Errorf("unknown option %q (want PATH[,ro])", o)
		}
	}
	return d, nil
}
