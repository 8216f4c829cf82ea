package agent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// restored brings a VM restored from a snapshot up to date: the wall clock
// (the guest's stands where it stood when the snapshot was taken) and the
// kernel's random pool (every VM restored from one snapshot shares the
// snapshot's state), fed the host's bytes, credited, and the CRNG reseeded
// from it at once.
func restored(a *proto.RestoredArgs) error {
	ts := unix.NsecToTimespec(a.RealtimeNs)
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("setting the clock: %w", err)
	}
	if len(a.Entropy) == 0 {
		return nil
	}
	f, err := os.OpenFile("/dev/random", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("reseeding: %w", err)
	}
	defer f.Close()
	if err := addEntropy(int(f.Fd()), a.Entropy); err != nil {
		return fmt.Errorf("reseeding: RNDADDENTROPY: %w", err)
	}
	if err := unix.IoctlSetInt(int(f.Fd()), unix.RNDRESEEDCRNG, 0); err != nil {
		return fmt.Errorf("reseeding: RNDRESEEDCRNG: %w", err)
	}
	return nil
}
