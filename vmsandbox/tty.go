package vmsandbox

import (
	"errors"
	"os"
	"time"

	"github.com/hullvm/hull/runtime"
)

// attachStdio connects the container's stdio once the agent has created
// it. Without a terminal the container's stdio is this process's own
// (hull create's). With one (process.terminal), hull create has made a
// host pty, kept its master for --console-socket and passed the slave as
// descriptor --tty-fd, this process's controlling terminal (setsid +
// TIOCSCTTY): the slave is bridged to the guest terminal's streams and
// SIGWINCH resizes the guest's terminal (runtime/vmtty.go). This
// process's own stdio is then not the container's.
func (h *vmHost) attachStdio(terminal bool) (func(time.Duration) bool, error) {
	if !terminal {
		return runtime.AttachStreams(h.sb, h.dir, h.id, "", os.Stdin, os.Stdout, os.Stderr)
	}
	if h.ttyFD < 0 {
		return nil, errors.New("process.terminal is set but hull create passed no terminal (--tty-fd)")
	}
	slave, err := runtime.TTYFile(h.ttyFD)
	if err != nil {
		return nil, err
	}
	drain, err := runtime.AttachTerminal(h.sb, h.dir, h.id, "", slave, h.log.Printf)
	if err != nil {
		slave.Close()
		return nil, err
	}
	return drain, nil
}
