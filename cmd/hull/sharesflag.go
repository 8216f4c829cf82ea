package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hullvm/hull/vmm"
)

// parseShare parses one --share value: tag=NAME,path=DIR[,ro] (tag and
// path required, in any order). Paths with a comma are not supported.
func parseShare(s string) (vmm.Share, error) {
	var sh vmm.Share
	for _, kv := range strings.Split(s, ",") {
		switch k, v, ok := strings.Cut(kv, "="); {
		case kv == "ro":
			sh.ReadOnly = true
		case kv == "rw":
			sh.ReadOnly = false
		case !ok:
			return vmm.Share{}, fmt.Errorf("%q: want tag=NAME,path=DIR[,ro]", kv)
		case k == "tag":
			sh.Tag = v
		case k == "path":
			sh.Path = v
		default:
			return vmm.Share{}, fmt.Errorf("unknown option %q (want tag=NAME,path=DIR[,ro])", k)
		}
	}
	if sh.Tag == "" || sh.Path == "" {
		return vmm.Share{}, errors.New("want tag=NAME,path=DIR[,ro], tag and path both")
	}
	return sh, nil
}
