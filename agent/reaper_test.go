package agent

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReapScripted(t *testing.T) {
	type res struct {
		pid int
		err error
	}
	script := []res{{0, unix.EINTR}, {10, nil}, {11, nil}, {0, nil}, {12, nil}, {-1, unix.ECHILD}}
	r := newReaper()
	r.wait = func(ws *unix.WaitStatus) (int, error) {
		x := script[0]
		script = script[1:]
		*ws = unix.WaitStatus(x.pid << 8) // "exited with status pid"
		return x.pid, x.err
	}
	ch := make(chan unix.WaitStatus, 1)
	r.waiters[11] = ch
	if n := r.reap(); n != 2 {
		t.Errorf("first pass reaped %d, want 2 (EINTR retried, stops at 0)", n)
	}
	if ws := <-ch; ws.ExitStatus() != 11 {
		t.Errorf("waiter of 11 got %v", ws)
	}
	if _, ok := r.waiters[11]; ok {
		t.Error("waiter kept after delivery")
	}
	if n := r.reap(); n != 1 || len(script) != 0 {
		t.Errorf("second pass reaped %d, script left %d", n, len(script))
	}
}

// TestReapReal: a started child's status arrives; an unrelated child
// (standing in for an orphan) is reaped too, leaving no zombie.
func TestReapReal(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no true(1): %v", err)
	}
	r := newReaper()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	attr := &os.ProcAttr{Files: []*os.File{devnull, devnull, devnull}}
	other, err := os.StartProcess(truePath, []string{"true"}, attr)
	if err != nil {
		t.Fatal(err)
	}
	otherPid := other.Pid
	_ = other.Release()
	pid, done, err := r.start("/bin/sh", []string{"sh", "-c", "exit 7"}, attr)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for reaped := 0; reaped < 2; {
		select {
		case <-deadline:
			t.Fatalf("reaped %d of 2 children within 10 s", reaped)
		case <-time.After(5 * time.Millisecond):
			reaped += r.reap()
		}
	}
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("child %d: %s, want exit status 7", pid, describeStatus(ws))
	}
	if err := unix.Kill(otherPid, 0); err != unix.ESRCH {
		t.Errorf("the other child %d is still there (kill 0: %v): a zombie", otherPid, err)
	}
}

// TestReaperStartHoldsLock: Start (container.Reaper) holds the reaping
// lock from the start of a child to the registration of its channel: a
// child that has exited before Start returns, with reaping passes
// running all the while, still hands its status to its channel.
func TestReaperStartHoldsLock(t *testing.T) {
	r := newReaper()
	stop := make(chan struct{})
	passes := make(chan struct{})
	go func() {
		defer close(passes)
		for {
			select {
			case <-stop:
				return
			default:
				r.reap()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	defer func() { close(stop); <-passes }()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	pid, done, err := r.Start(func() (int, error) {
		p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "exit 9"}, &os.ProcAttr{Files: []*os.File{devnull, devnull, devnull}})
		if err != nil {
			return 0, err
		}
		pid := p.Pid
		_ = p.Release()
		// Wait until it is a zombie: a reaping pass now would take it.
		for deadline := time.Now().Add(10 * time.Second); !isZombie(pid); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("child %d did not exit", pid)
				break
			}
		}
		return pid, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ws := <-done:
		if !ws.Exited() || ws.ExitStatus() != 9 {
			t.Errorf("child %d: %s, want exit status 9", pid, describeStatus(ws))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("child %d: no status within 10 s: reaped before its channel was registered", pid)
	}
	if _, _, err := r.Start(func() (int, error) { return 0, unix.EAGAIN }); err != unix.EAGAIN {
		t.Errorf("a failed start: %v", err)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
