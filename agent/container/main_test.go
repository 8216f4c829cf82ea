package container

import (
	"os"
	"testing"

	"github.com/hullvm/hull/agent/seccomp"
)

// TestMain makes the test binary its own container init: Create and Exec
// start os.Args[0] with the sync-socket variable set (IsInit).
func TestMain(m *testing.M) {
	if IsInit() {
		Seccomp = seccomp.Install
		InitMain() // never returns
	}
	os.Exit(m.Run())
}
