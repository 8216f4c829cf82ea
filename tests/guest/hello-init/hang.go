//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// HangMarker, a file in the initramfs, makes hello-init stay up after its
// line instead of restarting the machine: a guest that boots but never
// starts an agent (tests/kvm's boot-timeout test of the vm sandbox, whose
// VMM sets a command line of its own, so a file is the switch).
const HangMarker = "/hello-init.hang"

// hangIfMarked never returns when HangMarker exists.
func hangIfMarked(console io.Writer) {
	if _, err := os.Stat(HangMarker); err != nil {
		return
	}
	fmt.Fprintf(console, "hello-init: %s found: staying up without an agent\n", HangMarker)
	for {
		time.Sleep(time.Hour) // a timer, not select{}: Go would call that a deadlock
	}
}
