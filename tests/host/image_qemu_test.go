package hosttests

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/guestimage"
	"github.com/hullvm/hull/internal/testtier"
)

const (
	envImageKernel = "HULL_TEST_IMAGE_KERNEL"
	envImageInitrd = "HULL_TEST_IMAGE_INITRD"
	// qemuTimeout: about 1-2 s on an idle machine; software emulation on
	// busy shared cores is much slower.
	qemuTimeout = 120 * time.Second
)

// image returns the guest image's kernel and initramfs: the environment's,
// else the default image. Missing, it skips t, or fails it under
// HULL_REQUIRE_ROOT=1 (make test-host builds the image first).
func image(t *testing.T) (kernel, initrd string) {
	t.Helper()
	kernel, initrd = os.Getenv(envImageKernel), os.Getenv(envImageInitrd)
	if kernel != "" && initrd != "" {
		return kernel, initrd
	}
	kernel, initrd, err := guestimage.Default()
	if err != nil {
		msg := "no guest image: " + err.Error()
		if os.Getenv(testtier.EnvRequireRoot) == "1" {
			t.Fatalf("%s (%s=1: this test must not be skipped)", msg, testtier.EnvRequireRoot)
		}
		t.Skip(msg)
	}
	return kernel, initrd
}

// qemuArgs boots kernel + initrd on QEMU's microvm in software emulation:
// no firmware tables but the MP table, virtio-mmio devices (none here) on the
// command line (acpi=off), serial on stdio, and QEMU exits when the guest
// resets (reboot=t: triple fault; -no-reboot).
func qemuArgs(kernel, initrd, cmdline string) []string {
	return []string{
		"-M", "microvm,acpi=off", "-m", "256", "-nodefaults", "-no-user-config", "-nographic",
		"-serial", "stdio", "-kernel", kernel, "-initrd", initrd, "-no-reboot",
		"-append", "console=ttyS0 reboot=t panic=-1 " + cmdline,
	}
}

// console collects the guest's output and signals when text appears.
type console struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	waits []wait
}

type wait struct {
	s    string
	from int
	ch   chan time.Time
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	kept := c.waits[:0]
	for _, w := range c.waits {
		if bytes.Contains(c.buf.Bytes()[w.from:], []byte(w.s)) {
			w.ch <- time.Now()
			continue
		}
		kept = append(kept, w)
	}
	c.waits = kept
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// next returns a channel that gets the time s appears after what has been
// written so far.
func (c *console) next(s string) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waits = append(c.waits, wait{s: s, from: c.buf.Len(), ch: ch})
	return ch
}

// qemu is one QEMU run.
type qemu struct {
	cmd   *exec.Cmd
	con   *console
	stdin io.WriteCloser
	start time.Time
	done  chan error
}

func startQEMU(t *testing.T, ctx context.Context, cmdline string) *qemu {
	t.Helper()
	testtier.RequireRoot(t)
	bin := testtier.RequireTool(t, "qemu-system-x86_64")
	kernel, initrd := image(t)
	q := &qemu{con: &console{}, done: make(chan error, 1)}
	q.cmd = exec.CommandContext(ctx, bin, qemuArgs(kernel, initrd, cmdline)...)
	q.cmd.Stdout, q.cmd.Stderr = q.con, q.con
	var err error
	if q.stdin, err = q.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	q.start = time.Now()
	if err := q.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { q.done <- q.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", q.con.String())
		}
	})
	return q
}

// await waits for ch or the end of QEMU or the context.
func (q *qemu) await(t *testing.T, ctx context.Context, what string, ch <-chan time.Time) time.Time {
	t.Helper()
	select {
	case at := <-ch:
		return at
	case err := <-q.done:
		q.done <- err
		t.Fatalf("QEMU ended (%v) before %s", err, what)
	case <-ctx.Done():
		t.Fatalf("no %s within %v", what, qemuTimeout)
	}
	return time.Time{}
}

// wantExit waits for QEMU to end by itself, with status 0 (the guest reset).
func (q *qemu) wantExit(t *testing.T) time.Duration {
	t.Helper()
	if err := <-q.done; err != nil {
		t.Fatalf("QEMU: %v, want a clean exit after the guest's reset", err)
	}
	return time.Since(q.start)
}

// TestImageBootsUnderQEMU: the default image boots to the agent's ready
// line in software emulation and powers off (hull.agent.exit=ready).
func TestImageBootsUnderQEMU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout)
	defer cancel()
	q := startQEMU(t, ctx, "hull.agent.exit=ready hull.hostname=qemu-test")
	ready := q.await(t, ctx, "ready line", q.con.next(agent.ReadyLine))
	total := q.wantExit(t)
	t.Logf("QEMU TCG: %q after %v, QEMU exited after %v", agent.ReadyLine, ready.Sub(q.start).Round(time.Millisecond), total.Round(time.Millisecond))

	out := q.con.String()
	for _, want := range []string{
		"Run /init as init process",
		agent.ReadyLine + " (hostname qemu-test, up ",
		"hull-agent: powering off (hull.agent.exit=ready)",
		"reboot: Restarting system",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	// The agent's only other line: no vsock device under this QEMU.
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "hull-agent: ") && !strings.Contains(line, "powering off") &&
			!strings.Contains(line, "no vsock device (not available yet)") {
			t.Errorf("unexpected agent line %q", strings.TrimSpace(line))
		}
	}
}

// TestImageDebugShell: with hull.agent.shell=1 the busybox shell runs on the
// serial console, sees the agent's mounts, hostname and lo, and the VM
// powers off when it exits.
func TestImageDebugShell(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout)
	defer cancel()
	q := startQEMU(t, ctx, "quiet hull.agent.shell=1 hull.hostname=dbg")
	q.await(t, ctx, "ready line", q.con.next(agent.ReadyLine))
	q.await(t, ctx, "shell prompt", q.con.next("$ "))
	from := len(q.con.String())
	for _, c := range []string{"hostname", "cat /proc/mounts", "ip addr show lo", "ls /bbin", "exit"} {
		prompt := q.con.next("$ ")
		if _, err := io.WriteString(q.stdin, c+"\n"); err != nil {
			t.Fatal(err)
		}
		if c != "exit" {
			q.await(t, ctx, "prompt after "+c, prompt)
		}
	}
	q.wantExit(t)
	out := q.con.String()[from:]
	for _, want := range []string{
		"\ndbg\r\n",
		"proc /proc proc rw,nosuid,nodev,noexec",
		"sysfs /sys sysfs rw,nosuid,nodev,noexec",
		"devtmpfs /dev devtmpfs rw,nosuid",
		"devpts /dev/pts devpts rw,nosuid,noexec",
		"tmpfs /tmp tmpfs rw,nosuid,nodev",
		"lo: <UP,LOOPBACK>",
		"inet 127.0.0.1/8",
		"gosh",
		"hull-agent: powering off (the debug shell ended)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("shell session lacks %q", want)
		}
	}
}
