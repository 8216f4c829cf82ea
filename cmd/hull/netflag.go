package main

import (
	"errors"
	"fmt"
	"strings"

	vnet "github.com/hullvm/hull/virtio/net"
	"github.com/hullvm/hull/vmm"
)

// parseNet parses one --net value: tap=NAME[,mac=aa:bb:cc:dd:ee:ff], in
// any order.
func parseNet(s string) (vmm.Net, error) {
	var n vmm.Net
	for _, kv := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return vmm.Net{}, fmt.Errorf("%q: want tap=NAME[,mac=aa:bb:cc:dd:ee:ff]", kv)
		}
		switch k {
		case "tap":
			n.Tap = val
		case "mac":
			m, err := vnet.ParseMAC(val)
			if err != nil {
				return vmm.Net{}, err
			}
			n.MAC = m
		default:
			return vmm.Net{}, fmt.Errorf("unknown option %q (want tap=NAME[,mac=aa:bb:cc:dd:ee:ff])", k)
		}
	}
	if n.Tap == "" {
		return vmm.Net{}, errors.New("want tap=NAME[,mac=aa:bb:cc:dd:ee:ff], the TAP name is missing")
	}
	return n, nil
}
