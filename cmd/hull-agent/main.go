// Command hull-agent is the guest's init (PID 1) in hull's microVMs: it
// mounts the basic file systems, sets the hostname, brings up lo, marks the
// boot timer, prints "hull-agent ready" on the console and serves the host
// over vsock. See package agent. Build it static:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/hull-agent ./cmd/hull-agent
//
// `hull image build` does, and installs it as /init of the default image.
package main

import "github.com/hullvm/hull/agent"

func main() { agent.Main() }
