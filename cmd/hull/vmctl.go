package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/vmm"
	"github.com/hullvm/hull/vmm/api"
)

// listenAPI binds --api-sock ("" : none) before the VM is built, so that a
// bad path fails before anything runs.
func listenAPI(path string) (net.Listener, error) {
	if path == "" {
		return nil, nil
	}
	return api.Listen(path)
}

func closeAPI(ln net.Listener, path string) {
	if ln != nil {
		ln.Close()
		os.Remove(path)
	}
}

// serveAPI serves the VM's control socket on ln (if any) until the VM
// stops, and returns how it stopped.
func serveAPI(ln net.Listener, path string, vm *vmm.VM) *vmm.Exit {
	var srv *http.Server
	if ln != nil {
		srv = api.Serve(ln, vm)
	}
	exit := vm.Wait()
	if srv != nil {
		srv.Close()
		os.Remove(path)
	}
	return exit
}

// vmControl is hull vm status|pause|resume|stop|snapshot: a client of a
// running VMM's control socket.
func vmControl(verb string, args []string) int {
	fs := flag.NewFlagSet("vm "+verb, flag.ContinueOnError)
	sock := fs.String("api-sock", "", "the VMM's control socket (hull vm boot --api-sock, or <root>/<id>/vmm.sock of a vm-sandboxed container)")
	dir := fs.String("dir", "", "snapshot: the directory to write (created; must not exist or be empty)")
	leavePaused := fs.Bool("leave-paused", false, "snapshot: keep the VM paused afterwards (default: resume it if it was running)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hull vm %s --api-sock PATH%s\n\nflags:\n", verb, map[bool]string{true: " --dir DIR [--leave-paused]"}[verb == "snapshot"])
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "vm %s: unexpected argument %q", verb, fs.Arg(0))
	}
	if *sock == "" {
		return fail(exitUsage, "vm %s: --api-sock is required", verb)
	}
	if verb == "snapshot" && *dir == "" {
		return fail(exitUsage, "vm snapshot: --dir is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := api.NewClient(*sock)
	var err error
	switch verb {
	case "status":
		var st *api.Status
		if st, err = c.Status(ctx); err == nil {
			b, _ := json.MarshalIndent(st, "", "  ")
			fmt.Println(string(b))
		}
	case "pause":
		err = c.Pause(ctx)
	case "resume":
		err = c.Resume(ctx)
	case "stop":
		err = c.Stop(ctx)
	case "snapshot":
		err = snapshotVM(ctx, c, *dir, *leavePaused)
	}
	if err != nil {
		return fail(exitError, "vm %s: %v", verb, err)
	}
	return 0
}

// snapshotVM pauses the VM if it runs, snapshots it and resumes it unless
// told to leave it paused.
func snapshotVM(ctx context.Context, c *api.Client, dir string, leavePaused bool) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	wasRunning := st.State == vmm.StateRunning
	if wasRunning {
		if err := c.Pause(ctx); err != nil {
			return err
		}
	}
	res, err := c.Snapshot(ctx, api.SnapshotRequest{Dir: dir})
	if wasRunning && !leavePaused {
		if rerr := c.Resume(ctx); rerr != nil && err == nil {
			err = fmt.Errorf("snapshot taken, but resuming the VM failed: %w", rerr)
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("snapshot %s: %d bytes of guest memory, %d bytes of state, in %v\n",
		res.Dir, res.MemBytes, res.StateSize, res.Took.Round(time.Microsecond))
	return nil
}

// vmRestore is hull vm restore: a VM continued from a snapshot, in this
// process, with the serial console on this terminal.
func vmRestore(args []string) int {
	fs := flag.NewFlagSet("vm restore", flag.ContinueOnError)
	var rc vmm.RestoreConfig
	fs.StringVar(&rc.Dir, "snapshot", "", "the snapshot directory (hull vm snapshot --dir)")
	fs.StringVar(&rc.VsockUDS, "vsock-uds", "", "a new path for the vsock device's host socket (default: the snapshotted VM's)")
	fs.Func("disk", "virtio-blk disk PATH[,ro] replacing the snapshotted VM's, in order (repeat for each disk; give all or none)", func(s string) error {
		d, err := parseDisk(s)
		rc.Disks = append(rc.Disks, d)
		return err
	})
	fs.Func("net", "virtio-net tap=NAME[,mac=...] replacing the snapshotted VM's, in order (give all or none; the MAC stays the snapshotted one)", func(s string) error {
		n, err := parseNet(s)
		rc.Nets = append(rc.Nets, n)
		return err
	})
	fs.Func("share", "virtio-9p share tag=NAME,path=DIR[,ro] replacing the snapshotted VM's of the same tag", func(s string) error {
		sh, err := parseShare(s)
		rc.Shares = append(rc.Shares, sh)
		return err
	})
	fs.BoolVar(&rc.Paused, "paused", false, "leave the restored VM paused (resume it through --api-sock)")
	fs.StringVar(&rc.KVMPath, "kvm", "/dev/kvm", "KVM device")
	apiSock := fs.String("api-sock", "", "serve the VM's control socket at this path")
	allowEmulated := fs.Bool("allow-emulated", false, "restore even where KVM emulates guest kernel code")
	timeline := fs.Bool("timeline", false, "print the timeline to stderr when the VM stops")
	timelineJSON := fs.String("timeline-json", "", "write the timeline as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: hull vm restore --snapshot DIR [flags]

Continues a VM from a snapshot (hull vm snapshot) with the serial console on
this terminal, until the guest stops it. The snapshot must come from this
hull version on a host with the same CPU features. Exit status as hull vm boot.

flags:
`)
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "vm restore: unexpected argument %q", fs.Arg(0))
	}
	if rc.Dir == "" {
		return fail(exitUsage, "vm restore: --snapshot is required")
	}
	rc.CheckHost = func(kvmPath string) error { return usableKVM(kvmPath, *allowEmulated) }
	rc.Console = os.Stdout
	rc.ConsoleIn = os.Stdin
	rc.ReadyMarker = agent.ReadyLine
	rc.Start = processStart
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ln, err := listenAPI(*apiSock)
	if err != nil {
		return fail(exitError, "vm restore: %v", err)
	}
	vm, err := vmm.Restore(ctx, rc)
	if err != nil {
		closeAPI(ln, *apiSock)
		return fail(exitError, "vm restore: %v", err)
	}
	return reportExit(serveAPI(ln, *apiSock, vm), *timeline, *timelineJSON)
}
