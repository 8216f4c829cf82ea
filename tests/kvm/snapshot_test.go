package kvmtests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/tests/guest/guesttest"
	"github.com/hullvm/hull/vmm"
	"github.com/hullvm/hull/vmm/api"
)

// Snapshot and restore with the counter guest: it counts on the serial
// console and checks a table in its memory at every step. Paused and
// snapshotted mid-way, then restored (several times, in this process and
// in a fresh one), it must go on from exactly where it was: the console
// output before the snapshot and after the restore join into the one
// sequence, and its memory checks pass.

const (
	counterN     = 400
	counterDelay = 20000
	counterAt    = "count 20\n" // snapshot once this is on the console
	counterMiB   = 64
)

// counterSnapshot boots the counter guest, snapshots it once it printed
// counterAt, stops it, and returns the snapshot directory and the console
// output up to the snapshot.
func counterSnapshot(t *testing.T) (dir, before string) {
	t.Helper()
	testtier.RequireKVM(t)
	con := newConsole(counterAt)
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	vm, err := vmm.Start(ctx, vmm.Config{Kernel: guestELF(t, "counter"), TestExitPort: true, MemMiB: counterMiB,
		Cmdline: guesttest.CounterCmdline(counterN, counterDelay), Console: con})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Wait()
	defer vm.Stop()
	select {
	case <-con.seen(counterAt):
	case <-vm.Done():
		t.Fatalf("the counter guest stopped before %q: %s\n%s", counterAt, vm.Wait(), clip(con.String()))
	case <-ctx.Done():
		t.Fatalf("no %q within %v:\n%s", counterAt, guestTimeout, clip(con.String()))
	}
	if _, err := vm.Snapshot(api.SnapshotRequest{Dir: filepath.Join(socketDir(t), "x")}); err == nil || !errors.Is(err, api.ErrState) {
		t.Fatalf("snapshot of a running VM: %v, want an error matching api.ErrState", err)
	}
	if err := vm.Pause(); err != nil {
		t.Fatal(err)
	}
	if st := vm.Status(); st.State != vmm.StatePaused {
		t.Fatalf("status after pause: %+v", st)
	}
	dir = filepath.Join(socketDir(t), "snap")
	res, err := vm.Snapshot(api.SnapshotRequest{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before = con.String()
	if strings.Contains(before, guesttest.CounterDone) {
		t.Fatalf("the counter guest finished before the snapshot: make counterN larger")
	}
	t.Logf("snapshot at %q: %d bytes of memory, %d bytes of state, in %v", lastLine(before), res.MemBytes, res.StateSize, res.Took)
	// Paused means paused: nothing more appears.
	time.Sleep(100 * time.Millisecond)
	if after := con.String(); after != before {
		t.Fatalf("the paused guest printed %q", after[len(before):])
	}
	return dir, before
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// wantContinued checks that before+after is the counter's whole output.
func wantContinued(t *testing.T, before, after string) {
	t.Helper()
	if got, want := before+after, guesttest.CounterOutput(counterN); got != want {
		t.Fatalf("output before the snapshot (%d bytes, ends %q) and after the restore (%d bytes, starts %q) do not join into the counter's output",
			len(before), lastLine(before), len(after), firstLine(after))
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func TestSnapshotRestoreCounter(t *testing.T) {
	dir, before := counterSnapshot(t)
	for i := range 3 { // a snapshot restores any number of times
		con := newConsole()
		ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
		t0 := time.Now()
		vm, err := vmm.Restore(ctx, vmm.RestoreConfig{Dir: dir, Console: con})
		if err != nil {
			cancel()
			t.Fatalf("restore %d: %v", i, err)
		}
		exit := vm.Wait()
		cancel()
		if exit.Reason != vmm.ReasonGuestExit || exit.Code != 0 {
			t.Fatalf("restore %d: stopped with %s\n%s", i, exit, clip(con.String()))
		}
		wantContinued(t, before, con.String())
		first, _ := exit.Timeline.Lookup(vmm.EventFirstKVMRun)
		t.Logf("restore %d: first KVM_RUN %v after Restore was called; ran to the end in %v", i, first, time.Since(t0))
	}
}

// TestSnapshotRestoreFreshProcess restores in a new process: this test
// binary again (the same build: a snapshot is only restored by the hull
// that took it).
func TestSnapshotRestoreFreshProcess(t *testing.T) {
	if dir := os.Getenv("HULL_TEST_RESTORE_CHILD"); dir != "" {
		vm, err := vmm.Restore(context.Background(), vmm.RestoreConfig{Dir: dir, Console: os.Stdout})
		if err != nil {
			t.Fatal(err)
		}
		if exit := vm.Wait(); exit.Reason != vmm.ReasonGuestExit || exit.Code != 0 {
			t.Fatalf("restored guest stopped with %s", exit)
		}
		return
	}
	dir, before := counterSnapshot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSnapshotRestoreFreshProcess$")
	cmd.Env = append(os.Environ(), "HULL_TEST_RESTORE_CHILD="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("restoring in a new process: %v\n%s", err, clip(out.String()))
	}
	// The child's stdout is the console, then the test framework's PASS.
	after, _, _ := strings.Cut(out.String(), guesttest.CounterDone+"\n")
	wantContinued(t, before, after+guesttest.CounterDone+"\n")
}

// TestSnapshotCLI does the same through the command line: hull vm boot
// --api-sock, hull vm snapshot, hull vm stop, hull vm restore.
func TestSnapshotCLI(t *testing.T) {
	testtier.RequireKVM(t)
	bin := testtier.RequireFile(t, envBin, "hull binary (bin/hull)")
	dir := socketDir(t)
	sock := filepath.Join(dir, "api.sock")
	con := newConsole(counterAt)
	boot := exec.Command(bin, "vm", "boot", "--kernel", guestELF(t, "counter"), "--test-exit-port",
		"--mem", "64", "--cmdline", guesttest.CounterCmdline(counterN, counterDelay), "--api-sock", sock)
	boot.Stdout = con
	var stderr bytes.Buffer
	boot.Stderr = &stderr
	if err := boot.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- boot.Wait() }()
	defer func() {
		boot.Process.Kill()
		<-waited
	}()
	select {
	case <-con.seen(counterAt):
	case err := <-waited:
		waited <- err
		t.Fatalf("hull vm boot ended before %q: %v\n%s%s", counterAt, err, stderr.String(), clip(con.String()))
	case <-time.After(guestTimeout):
		t.Fatalf("no %q within %v", counterAt, guestTimeout)
	}
	hull := func(args ...string) string {
		t.Helper()
		out, err := quitAfter(exec.Command(bin, args...), time.Minute).CombinedOutput()
		if err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	snap := filepath.Join(dir, "snap")
	t.Log(strings.TrimSpace(hull("vm", "snapshot", "--api-sock", sock, "--dir", snap, "--leave-paused")))
	if st := hull("vm", "status", "--api-sock", sock); !strings.Contains(st, `"paused"`) {
		t.Fatalf("status after snapshot --leave-paused: %s", st)
	}
	before := con.String()
	hull("vm", "stop", "--api-sock", sock)
	select {
	case err := <-waited:
		waited <- err
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != vmm.ExitCodeCancelled {
			t.Fatalf("hull vm boot after stop: %v, want exit %d", err, vmm.ExitCodeCancelled)
		}
	case <-time.After(30 * time.Second):
		boot.Process.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
		t.Fatalf("hull vm boot still running 30 s after hull vm stop; its stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket is left behind: %v", err)
	}
	restore := quitAfter(exec.Command(bin, "vm", "restore", "--snapshot", snap), guestTimeout)
	var rerr bytes.Buffer
	restore.Stderr = &rerr
	out, err := restore.Output()
	if err != nil {
		t.Fatalf("hull vm restore: %v\n%s\nstderr: %s", err, clip(string(out)), rerr.String())
	}
	wantContinued(t, before, string(out))
}

// TestSnapshotRefused: a snapshot that does not fit is refused with a
// clear error, and nothing is left running.
func TestSnapshotRefused(t *testing.T) {
	dir, _ := counterSnapshot(t)
	state, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	nl := bytes.IndexByte(state, '\n')
	cases := []struct {
		name  string
		edit  func(t *testing.T, d string)
		wants string
	}{
		{"corrupted state", func(t *testing.T, d string) {
			b := bytes.Clone(state)
			b[len(b)-10] ^= 0xff
			write(t, filepath.Join(d, "state"), b)
		}, "corrupted"},
		{"truncated state", func(t *testing.T, d string) {
			write(t, filepath.Join(d, "state"), state[:len(state)-100])
		}, "truncated"},
		{"wrong format", func(t *testing.T, d string) {
			write(t, filepath.Join(d, "state"), bytes.Replace(state, []byte(`"format":1,`), []byte(`"format":99,`), 1))
		}, "format 99"},
		{"other hull", func(t *testing.T, d string) {
			h := string(state[:nl])
			i := strings.Index(h, `"hullVersion":"`) + len(`"hullVersion":"`)
			write(t, filepath.Join(d, "state"), append([]byte(h[:i]+"v0.0.1-other"+h[strings.IndexByte(h[i:], '"')+i:]), state[nl:]...))
		}, "was taken by hull v0.0.1-other"},
		{"other CPU", func(t *testing.T, d string) {
			h := string(state[:nl])
			i := strings.Index(h, `"cpuid":"`) + len(`"cpuid":"`)
			write(t, filepath.Join(d, "state"), append([]byte(h[:i]+"0000"+h[i+4:]), state[nl:]...))
		}, "CPU features differ"},
		{"no memory file", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "memory"))
		}, "memory"},
		{"short memory file", func(t *testing.T, d string) {
			os.Truncate(filepath.Join(d, "memory"), 1<<20)
		}, "memory file"},
		{"not a snapshot", func(t *testing.T, d string) {
			write(t, filepath.Join(d, "state"), []byte("hello\n"))
		}, "not a hull snapshot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(socketDir(t), "snap")
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"state", "memory"} {
				if err := exec.Command("cp", "--sparse=always", filepath.Join(dir, f), filepath.Join(d, f)).Run(); err != nil {
					t.Fatal(err)
				}
			}
			c.edit(t, d)
			vm, err := vmm.Restore(context.Background(), vmm.RestoreConfig{Dir: d})
			if err == nil {
				vm.Stop()
				vm.Wait()
				t.Fatalf("restored")
			}
			if !errors.Is(err, vmm.ErrSnapshot) || !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("error %q: want one matching vmm.ErrSnapshot and saying %q", err, c.wants)
			}
			t.Log(err)
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// quitAfter makes cmd, once started, get SIGQUIT after d (a Go program
// then prints every goroutine's stack to stderr) and be killed 5 s later.
func quitAfter(cmd *exec.Cmd, d time.Duration) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGQUIT) }
	c.WaitDelay = 5 * time.Second
	context.AfterFunc(ctx, func() {}) // ctx lives as long as the command may
	_ = cancel
	return c
}
