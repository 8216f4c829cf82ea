package main

import (
	"testing"

	"github.com/hullvm/hull/vmm"
)

func TestParseDisk(t *testing.T) {
	for _, c := range []struct {
		in   string
		want vmm.Disk
		ok   bool
	}{
		{"a.img", vmm.Disk{Path: "a.img"}, true},
		{"/x/b.img,ro", vmm.Disk{Path: "/x/b.img", ReadOnly: true}, true},
		{"b.img,ro,rw", vmm.Disk{Path: "b.img"}, true},
		{"", vmm.Disk{}, false},
		{",ro", vmm.Disk{}, false},
		{"a.img,", vmm.Disk{}, false},
		{"a.img,readonly", vmm.Disk{}, false},
	} {
		got, err := parseDisk(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("parseDisk(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
