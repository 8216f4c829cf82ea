package agent

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hullvm/hull/agent/proto"
)

// Main is hull-agent's main function. It never returns: PID 1 ends with
// the machine.
func Main() {
	if os.Getpid() != 1 {
		// Running on a host by mistake would mount over /proc and /dev and
		// reboot the machine.
		fmt.Fprintln(os.Stderr, "hull-agent: not PID 1: this is a guest's init and refuses to run anywhere else")
		os.Exit(2)
	}
	rp := newReaper()
	sys := &linuxSystem{reaper: rp}
	a := newAgent(sys, console())
	a.server = a.containerServer(rp, sys)
	a.server.ConfigureNetwork = func(n *proto.Network) error { return configureNetwork(netlinkOps{}, n, a.logf) }
	defer a.recoverCrash()

	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	a.goSafe(func() {
		for range chld {
			rp.reap()
		}
	})
	// Go's default action for these exits the process, which kills init.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR, syscall.SIGQUIT,
		syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)

	st, err := a.start()
	if err != nil {
		a.logf("%v", err)
		a.powerOff("start-up failed")
		select {} // power off failed too: nothing left to do but stay alive
	}
	a.serve(st, sigs)
	select {} // serve returns only when Reboot returned nil, which it does not
}

// console is where the agent writes: stdout, which the kernel opens on
// /dev/console for init, else /dev/console itself, else nowhere.
func console() io.Writer {
	if _, err := os.Stdout.Stat(); err == nil {
		return os.Stdout
	}
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		return f
	}
	return io.Discard
}
