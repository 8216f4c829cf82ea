package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hullvm/hull/vmm"
)

// parseVsock parses the --vsock value: cid=N,uds=PATH (both required, in
// any order). Paths with a comma are not supported.
func parseVsock(s string) (*vmm.Vsock, error) {
	v := &vmm.Vsock{}
	var haveCID bool
	for _, kv := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want cid=N,uds=PATH", kv)
		}
		switch k {
		case "cid":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || n < 3 || n == 1<<32-1 {
				return nil, fmt.Errorf("cid %q: want a number from 3 to %d", val, uint64(1<<32-2))
			}
			v.CID, haveCID = n, true
		case "uds":
			v.UDSPath = val
		default:
			return nil, fmt.Errorf("unknown option %q (want cid=N,uds=PATH)", k)
		}
	}
	if !haveCID || v.UDSPath == "" {
		return nil, errors.New("want cid=N,uds=PATH, both")
	}
	return v, nil
}
