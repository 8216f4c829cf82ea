package agent

import (
	"os"
	"testing"

	"github.com/hullvm/hull/agent/container"
	"github.com/hullvm/hull/agent/seccomp"
)

// TestMain makes the test binary its own container init, as
// cmd/hull-agent is in a guest: the host tier's Server starts
// {"/proc/self/exe", InitVerb} with the container code's sync variable
// set (container.IsInit).
func TestMain(m *testing.M) {
	if container.IsInit() {
		container.Seccomp = seccomp.Install
		container.InitMain() // never returns
	}
	os.Exit(m.Run())
}
