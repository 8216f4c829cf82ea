package kvmtests

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	bootlayout "github.com/hullvm/hull/boot"
	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/tests/guest/guesttest"
	"github.com/hullvm/hull/vmm"
)

// The virtio test guests (tests/guest/virtio*.c) drive hull's virtio-mmio
// devices with their own small polling driver, so a device bug shows up
// without a Linux guest in between: exact register, ring and packet
// behaviour, and an exit code naming the step that failed.

// blkDisk writes a disk image of n sectors whose sector 0 starts with the
// label line the guests check; the rest is zeros.
func blkDisk(t *testing.T, n int) (string, []byte) {
	t.Helper()
	img := make([]byte, n*512)
	copy(img, guesttest.BlkLabel+"\n")
	p := filepath.Join(t.TempDir(), "disk0.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, img
}

// blkID is the GET_ID string virtio/blk derives for a disk without an ID
// option: "hull-<dev>-<inode>" in hex, cut to 20 bytes.
func blkID(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("hull-%x-%x", st.Dev, st.Ino)
	return id[:min(len(id), 20)]
}

// wantGuestExit checks a clean exit through the test port, naming the
// failed step from the guest's exit-code table otherwise.
func wantGuestExit(t *testing.T, r result, codes map[int]string) {
	t.Helper()
	if r.exit.Reason == vmm.ReasonGuestExit && r.exit.Code != 0 {
		t.Fatalf("guest exit code %d: %s", r.exit.Code, codes[r.exit.Code])
	}
	wantStop(t, r, vmm.ReasonGuestExit, 0)
}

// TestVirtioGuestBlk: virtioblk reads the host's label, writes a pattern to
// sectors 1-3 and the last sector, flushes, reads them back, gets IOERR one
// sector past the end and reads the device ID. The image file on the host
// must hold exactly the pattern in those sectors afterwards.
func TestVirtioGuestBlk(t *testing.T) {
	const sectors = 128
	path, img := blkDisk(t, sectors)
	r := bootGuest(t, "virtioblk", vmm.Config{Disks: []vmm.Disk{{Path: path}}})
	t.Logf("virtioblk ran %v", r.wall.Round(time.Millisecond))
	wantGuestExit(t, r, guesttest.VirtioBlkCodes)
	base, _, err := bootlayout.VirtioMMIOSlot(0)
	if err != nil {
		t.Fatal(err)
	}
	wantOutput(t, r, guesttest.VirtioBlkOutput(uint64(base), sectors, blkID(t, path)))

	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(img) {
		t.Fatalf("disk image is %d bytes after the run, want %d", len(got), len(img))
	}
	want := bytes.Clone(img)
	for _, s := range guesttest.BlkWritten(sectors) {
		copy(want[s*512:], guesttest.BlkPattern(s))
	}
	for s := range sectors {
		if g, w := got[s*512:(s+1)*512], want[s*512:(s+1)*512]; !bytes.Equal(g, w) {
			t.Errorf("sector %d after the run: % x..., want % x...", s, g[:16], w[:16])
		}
	}
}

// TestVirtioGuestHostile: virtiohostile feeds the blk device rings outside
// RAM, buffers outside RAM (one wrapping around 2^64), a descriptor loop
// and an available-ring entry beyond the queue. Each bad chain must come
// back empty with the device still serving, each corrupt ring must set
// DEVICE_NEEDS_RESET, and a reset must bring the device back; the VMM
// stays up throughout (the guest ends through the exit port) and the disk
// is not written.
func TestVirtioGuestHostile(t *testing.T) {
	path, img := blkDisk(t, 16)
	r := bootGuest(t, "virtiohostile", vmm.Config{Disks: []vmm.Disk{{Path: path}}})
	t.Logf("virtiohostile ran %v", r.wall.Round(time.Millisecond))
	wantGuestExit(t, r, guesttest.VirtioHostileCodes)
	wantOutput(t, r, guesttest.VirtioHostileOutput)
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, img) {
		t.Errorf("the disk changed (%v)", err)
	}
}

// TestVirtioGuestVsock: virtiovsock connects from guest CID 7 to host port
// 5005; hull's device connects that to the Unix socket "<uds>_5005"
// (Firecracker's hybrid vsock), where this test answers: it reads the
// guest's message, sends the reply and reads until the guest's shutdown
// ends the stream. The guest checks the reply and the device's final RST.
func TestVirtioGuestVsock(t *testing.T) {
	const (
		cid  = 7
		port = 5005
	)
	testtier.RequireKVM(t) // before any socket is made
	uds := filepath.Join(socketDir(t), "v.sock")
	ln, err := net.Listen("unix", fmt.Sprintf("%s_%d", uds, port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type served struct {
		msg, rest string
		err       error
	}
	done := make(chan served, 1)
	go func() {
		var s served
		defer func() { done <- s }()
		_ = ln.(*net.UnixListener).SetDeadline(time.Now().Add(guestTimeout))
		c, err := ln.Accept()
		if err != nil {
			s.err = fmt.Errorf("accept: %w", err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(guestTimeout))
		msg := make([]byte, len(guesttest.VsockMessage))
		if _, err := io.ReadFull(c, msg); err != nil {
			s.err = fmt.Errorf("reading the guest's message: %w (got %q)", err, msg)
			return
		}
		s.msg = string(msg)
		if _, err := io.WriteString(c, guesttest.VsockReply); err != nil {
			s.err = fmt.Errorf("writing the reply: %w", err)
			return
		}
		rest, err := io.ReadAll(c) // until the guest's SHUTDOWN
		s.rest, s.err = string(rest), err
	}()

	r := bootGuest(t, "virtiovsock", vmm.Config{
		Cmdline: guesttest.VirtioVsockCmdline(port),
		Vsock:   &vmm.Vsock{CID: cid, UDSPath: uds},
	})
	t.Logf("virtiovsock ran %v", r.wall.Round(time.Millisecond))
	_ = ln.Close() // ends an Accept still waiting, if the guest never connected
	s := <-done
	if s.err != nil {
		t.Errorf("host side: %v", s.err)
	}
	if s.msg != guesttest.VsockMessage || s.rest != "" {
		t.Errorf("host read %q then %q before end of stream, want %q then nothing", s.msg, s.rest, guesttest.VsockMessage)
	}
	wantGuestExit(t, r, guesttest.VirtioVsockCodes)
	wantOutput(t, r, guesttest.VirtioVsockOutput(cid, port))
}
