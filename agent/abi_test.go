package agent_test

import (
	"testing"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/devices/boottimer"
)

// TestBootTimerABI: the agent spells the boot timer's address and value
// itself (it must not import boot); they must match the VMM's.
func TestBootTimerABI(t *testing.T) {
	if agent.BootTimerAddr != uint64(boot.BootTimerAddr) {
		t.Errorf("agent.BootTimerAddr %#x, boot.BootTimerAddr %#x", agent.BootTimerAddr, uint64(boot.BootTimerAddr))
	}
	if agent.BootTimerValue != boottimer.MagicValue {
		t.Errorf("agent.BootTimerValue %d, boottimer.MagicValue %d", agent.BootTimerValue, boottimer.MagicValue)
	}
}
