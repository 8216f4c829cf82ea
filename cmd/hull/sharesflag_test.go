package main

import (
	"testing"

	"github.com/hullvm/hull/vmm"
)

func TestParseShare(t *testing.T) {
	for _, c := range []struct {
		in   string
		want vmm.Share
		ok   bool
	}{
		{"tag=rootfs,path=/run/b/rootfs", vmm.Share{Tag: "rootfs", Path: "/run/b/rootfs"}, true},
		{"path=dir,tag=t,ro", vmm.Share{Tag: "t", Path: "dir", ReadOnly: true}, true},
		{"tag=t,ro,path=dir,rw", vmm.Share{Tag: "t", Path: "dir"}, true},
		{"tag=t", vmm.Share{}, false},
		{"path=dir", vmm.Share{}, false},
		{"tag=,path=dir", vmm.Share{}, false},
		{"tag=t,path=", vmm.Share{}, false},
		{"", vmm.Share{}, false},
		{"tag=t,path=dir,", vmm.Share{}, false},
		{"tag=t,path=dir,readonly", vmm.Share{}, false},
		{"tag=t,path=dir,cache=loose", vmm.Share{}, false},
	} {
		got, err := parseShare(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("parseShare(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
