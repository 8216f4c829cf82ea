package kvmtests

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/vmm"
)

// TestAgentVsock: the host reaches hull-agent over virtio-vsock, through the
// Firecracker-style hybrid socket: connect to the VMM's Unix socket, write
// "CONNECT 1024\n", read "OK <port>\n", then talk to the agent's control
// protocol; "poweroff" ends the VM cleanly (an i8042 reset with reboot=k).
func TestAgentVsock(t *testing.T) {
	testtier.RequireKVM(t)
	kernel := testtier.RequireFile(t, envImageKernel, "guest image kernel (make guest)")
	initrd := testtier.RequireFile(t, envImageInitrd, "guest image initramfs (make guest)")
	uds := filepath.Join(socketDir(t), "v.sock")
	cfg := vmm.Config{Kernel: kernel, Initrd: initrd, Cmdline: linuxCmdline(), MemMiB: 256,
		Vsock: &vmm.Vsock{CID: 3, UDSPath: uds}}

	ctx, cancel := context.WithTimeout(context.Background(), linuxTimeout)
	defer cancel()
	con := newConsole(agent.ReadyLine)
	cfg.Console = con
	type ran struct {
		exit *vmm.Exit
		err  error
	}
	done := make(chan ran, 1)
	go func() {
		exit, err := vmm.Run(ctx, cfg)
		done <- ran{exit, err}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console output:\n%s", clip(con.String()))
		}
	})
	select {
	case <-con.seen(agent.ReadyLine):
	case r := <-done:
		t.Fatalf("VM stopped before the agent was ready: %v %v", r.exit, r.err)
	case <-ctx.Done():
		t.Fatalf("no %q within %v", agent.ReadyLine, linuxTimeout)
	}

	conn, rd := connectAgent(t, uds)
	defer conn.Close()
	ask := func(req, want string) {
		t.Helper()
		if _, err := fmt.Fprintf(conn, "%s\n", req); err != nil {
			t.Fatalf("send %q: %v", req, err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reply to %q: %v (got %q)", req, err, line)
		}
		if got := strings.TrimSpace(line); got != want {
			t.Fatalf("reply to %q = %q, want %q", req, got, want)
		}
	}
	start := time.Now()
	ask("ping", "pong")
	t.Logf("ping round trip over vsock: %v", time.Since(start).Round(time.Microsecond))
	ask("version", agent.ControlVersion)
	ask("poweroff", "ok")

	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.exit.Reason != vmm.ReasonReset {
			t.Fatalf("VM stopped with %s, want a reset after the agent's power off", r.exit)
		}
	case <-ctx.Done():
		t.Fatalf("VM still running %v after poweroff", linuxTimeout)
	}
}

// socketDir returns a fresh directory where Unix sockets can be bound: under
// /dev/shm (a tmpfs) where there is one, since in the nested runner the
// temporary directory lives on the host's root shared over 9p, which does
// not support binding sockets (ENXIO).
func socketDir(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "hull-test-")
		if err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) }) // best effort: tmpfs
			return dir
		}
	}
	return t.TempDir()
}

// connectAgent performs the hybrid-vsock handshake for the agent's port. The
// agent may open its listener just after printing ready, so a refused
// CONNECT (the guest answers RST, the VMM closes the socket) is retried a
// bounded number of times.
func connectAgent(t *testing.T, uds string) (net.Conn, *bufio.Reader) {
	t.Helper()
	var last error
	for try := 0; try < 20; try++ {
		if try > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		conn, err := net.Dial("unix", uds)
		if err != nil {
			last = err
			continue
		}
		if _, err := fmt.Fprintf(conn, "CONNECT %d\n", agent.VsockPort); err != nil {
			conn.Close()
			last = err
			continue
		}
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(conn)
		line, err := rd.ReadString('\n')
		if err == nil && strings.HasPrefix(line, "OK ") {
			return conn, rd
		}
		conn.Close()
		last = fmt.Errorf("handshake reply %q: %v", line, err)
	}
	t.Fatalf("no vsock connection to the agent on port %d: %v", agent.VsockPort, last)
	return nil, nil
}
