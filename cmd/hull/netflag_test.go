package main

import (
	"testing"

	vnet "github.com/hullvm/hull/virtio/net"
	"github.com/hullvm/hull/vmm"
)

func TestParseNet(t *testing.T) {
	mac := vnet.MAC{0x02, 0, 0, 0xaa, 0xbb, 0xcc}
	for _, c := range []struct {
		in   string
		want vmm.Net
		ok   bool
	}{
		{"tap=tap0", vmm.Net{Tap: "tap0"}, true},
		{"tap=tap0,mac=02:00:00:aa:bb:cc", vmm.Net{Tap: "tap0", MAC: mac}, true},
		{"mac=02:00:00:AA:BB:CC,tap=tap0", vmm.Net{Tap: "tap0", MAC: mac}, true},
		{"", vmm.Net{}, false},
		{"tap0", vmm.Net{}, false},
		{"tap=", vmm.Net{}, false},
		{"mac=02:00:00:aa:bb:cc", vmm.Net{}, false},
		{"tap=tap0,mac=01:00:00:aa:bb:cc", vmm.Net{}, false}, // multicast
		{"tap=tap0,mac=02:00:00:aa:bb", vmm.Net{}, false},
		{"tap=tap0,", vmm.Net{}, false},
		{"tap=tap0,vhost=on", vmm.Net{}, false},
	} {
		got, err := parseNet(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("parseNet(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
