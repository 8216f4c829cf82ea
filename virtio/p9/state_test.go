package p9_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lib9p "github.com/hugelgupf/p9/p9"

	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// TestSnapshotRefusedWithFids: a mounted share (fids open) refuses the
// snapshot with an error naming it and the fids; the VM goes on; once
// every fid is clunked the snapshot succeeds.
func TestSnapshotRefusedWithFids(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{Tag: "bundle"})
	_, rootF := s.client()
	_, etc, err := rootF.Walk([]string{"etc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	_, err = s.d.MMIO.SaveState()
	if !errors.Is(err, p9.ErrInUse) || !strings.Contains(err.Error(), `"bundle"`) || !strings.Contains(err.Error(), "2 open fids") {
		t.Fatalf("SaveState of a mounted share: %v", err)
	}
	s.d.Resume()
	if _, _, _, err := etc.GetAttr(lib9p.AttrMaskAll); err != nil {
		t.Fatalf("after the refused snapshot: %v", err)
	}
	for _, f := range []lib9p.File{etc, rootF} {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.dev.FIDs(); n != 0 {
		t.Fatalf("%d fids after clunking everything", n)
	}
	if err := s.d.MMIO.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.d.MMIO.SaveState(); err != nil {
		t.Fatalf("SaveState with no fids: %v", err)
	}
}

// TestSnapshotRestoreNewDirectory: a share the guest talked to (Tversion)
// but holds no fid on is snapshotted and restored onto another directory;
// the guest then mounts it and sees the new directory's files, through
// chains at the saved ring positions.
func TestSnapshotRestoreNewDirectory(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{Tag: "rootfs"})
	_, rootF := s.client()
	if err := rootF.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.Close(); err != nil { // the driver-side reader of the old transport
		t.Fatal(err)
	}
	st := s.d.Snapshot()

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "only-here"), []byte("restored\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dev2, err := p9.New(other, p9.Options{Tag: "rootfs"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev2.Close() })
	d2 := s.d.Restore(t, dev2, st, vt.Options{})
	if err := s.d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	d2.Resume()
	s2 := &share{t: t, dev: dev2, d: d2, q: s.q.On(d2)}
	s2.conn = newChainConn(d2, s2.q, testMsize, 16)
	t.Cleanup(func() { _ = s2.conn.Close() })
	used := s2.q.UsedIdx()
	_, root2 := s2.client()
	_, f, err := root2.Walk([]string{"only-here"})
	if err != nil {
		t.Fatalf("walking to the new directory's file: %v", err)
	}
	if _, _, err := f.Open(lib9p.ReadOnly); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, err := f.ReadAt(b, 0)
	if err != nil || string(b[:n]) != "restored\n" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
	if got := s2.q.UsedIdx(); got-used < 4 {
		t.Errorf("used.idx went from %d to %d for version, attach, walk, open, read", used, got)
	}
	if _, _, err := root2.Walk([]string{"etc"}); err == nil {
		t.Error("the old directory's etc is visible after the restore")
	}
}

// TestPauseUnderLoad: Pause returns only when the requests in flight are
// answered (nothing reaches the used ring or the interrupt afterwards),
// and the requests posted while paused complete after Resume.
func TestPauseUnderLoad(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	_, rootF := s.client()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed sync.Once
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, _, err := rootF.GetAttr(lib9p.AttrMaskAll); err != nil {
					failed.Do(func() { t.Errorf("GetAttr: %v", err) })
					return
				}
			}
		}()
	}
	for range 10 {
		time.Sleep(5 * time.Millisecond)
		if err := s.d.MMIO.Pause(); err != nil {
			t.Fatal(err)
		}
		used, irqs := s.q.UsedIdx(), s.d.IRQ.Count()
		time.Sleep(10 * time.Millisecond)
		if s.q.UsedIdx() != used || s.d.IRQ.Count() != irqs {
			t.Fatal("the device returned a chain or interrupted after Pause")
		}
		s.d.Resume()
	}
	close(stop)
	wg.Wait()
}

// TestRestoreRejects: another tag, corrupt state.
func TestRestoreRejects(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{Tag: "a"})
	st := s.d.Snapshot()
	for _, c := range []struct {
		tag   string
		state []byte
		want  string
	}{
		{"b", st.Device, `tag "a"`},
		{"a", []byte("{{"), "saved state"},
		{"a", []byte(`{"Version":0,"Tag":"a"}`), "version 0"},
	} {
		dev, err := p9.New(root, p9.Options{Tag: c.tag})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dev.Close() })
		s2 := st
		s2.Device = c.state
		d2 := s.d.Clone(t, dev, vt.Options{})
		if err := d2.MMIO.RestoreState(s2); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tag %s, state %q: %v, want an error mentioning %q", c.tag, c.state, err, c.want)
		}
	}
}
