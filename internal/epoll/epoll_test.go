package epoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWaitAndClose(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if err := Add(epfd, p[0], unix.EPOLLIN); err != nil {
		t.Fatal(err)
	}
	pl, err := NewPoller(epfd, "test")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		ev := make([]unix.EpollEvent, 4)
		n, err := pl.Wait(ev)
		if err != nil || n != 1 || int(ev[0].Fd) != p[0] {
			got <- -1
			return
		}
		got <- n
	}()
	select {
	case <-got:
		t.Fatal("Wait returned with nothing ready")
	case <-time.After(50 * time.Millisecond):
	}
	unix.Write(p[1], []byte{1})
	if n := <-got; n != 1 {
		t.Fatalf("Wait: %d", n)
	}
	// Close ends a Wait in progress.
	unix.Read(p[0], make([]byte, 1))
	errc := make(chan error, 1)
	go func() { _, err := pl.Wait(make([]unix.EpollEvent, 1)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	pl.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Wait after Close: no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Wait")
	}
}
