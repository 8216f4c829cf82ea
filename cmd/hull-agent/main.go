// Command hull-agent is the guest's init (PID 1) in hull's microVMs: it
// mounts the basic file systems, sets the hostname, brings up lo, marks the
// boot timer, prints "hull-agent ready" on the console and serves the host
// over vsock: the line protocol on port 1024, the container protocol
// (agent/proto) on port 1025. See package agent. Build it static:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/hull-agent ./cmd/hull-agent
//
// `hull image build` does, and installs it as /init of the default image.
//
// `hull-agent __init` (agent.InitVerb) is a container's init half: the
// agent starts it through /proc/self/exe, at whatever pid the container's
// namespaces give it.
package main

import (
	"os"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/agent/container"
	"github.com/hullvm/hull/agent/seccomp"
)

func main() {
	// First and alone: a container's init must do nothing else before it
	// takes over, and is not PID 1 (agent.Main refuses anything else).
	if len(os.Args) > 1 && os.Args[1] == agent.InitVerb {
		container.Seccomp = seccomp.Install
		container.InitMain() // never returns
	}
	agent.Main()
}
