package agent

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
)

// ProcessSandboxMain is the process sandbox's agent (`hull __agent`):
// the same Server as in a guest, on the host, reached over the Unix
// socket the runtime bound and passed as fd 3. It serves one container
// and exits with that container's exit status (128+n for signal n), so
// that this process can stand for the container in `state` and
// --pid-file as the VMM does in the vm sandbox (DESIGN.md §2). Its stdout
// and stderr are the container's agent.log. initCmd starts a container's
// init half.
func ProcessSandboxMain(args []string, initCmd []string) int {
	fs := flag.NewFlagSet("__agent", flag.ContinueOnError)
	id := fs.String("id", "", "the container this agent serves")
	mountProc := fs.Bool("mount-proc", false, "this process has a pid and a mount namespace of its own: mount their /proc")
	if err := fs.Parse(args); err != nil || *id == "" {
		fmt.Fprintln(os.Stderr, "hull __agent: internal command of the process sandbox; started by `hull create`")
		return 2
	}
	logger := log.New(os.Stderr, "hull-agent["+*id+"] ", log.LstdFlags|log.Lmicroseconds)
	if *mountProc {
		// The /proc inherited from the host shows the host's pids; the
		// container code names processes by this namespace's. Mounts made
		// here must not reach the host: slave first.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
			logger.Printf("making / a slave mount: %v", err)
			return 1
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			logger.Printf("mounting /proc for the pid namespace: %v", err)
			return 1
		}
	}
	lf := os.NewFile(3, "agent.sock")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		logger.Printf("fd 3 is not the agent socket: %v", err)
		return 1
	}
	// Signals sent to this process (it is the container's pid in state)
	// go on to the container's process; SIGKILL cannot be caught and takes
	// the container with it (its parent-death signal).
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	signal.Ignore(unix.SIGTTOU, unix.SIGTTIN)
	var (
		once sync.Once
		exit = make(chan proto.WaitResult, 1)
	)
	srv := &Server{
		Name:        "hull-agent process",
		InitCommand: initCmd,
		Log:         logger.Printf,
		// hull create started this process in the container's namespaces.
		InheritNamespaces: true,
		OnExit: func(cid string, w proto.WaitResult) {
			once.Do(func() { exit <- w })
		},
	}
	go func() {
		for s := range sigs {
			sig, ok := proto.Forwarded(s)
			if !ok {
				continue
			}
			c, err := srv.get(*id)
			if err != nil || c.c == nil {
				continue
			}
			if err := c.c.Signal(sig); err != nil {
				logger.Printf("forwarding %v: %v", sig, err)
			}
		}
	}()
	go func() {
		if err := srv.Serve(l); err != nil {
			logger.Printf("serving: %v", err)
		}
	}()
	w := <-exit
	l.Close()
	srv.Drain(2 * time.Second)
	return w.Status
}
