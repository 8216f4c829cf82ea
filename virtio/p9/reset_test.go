package p9_test

import (
	"sync"
	"testing"

	lib9p "github.com/hugelgupf/p9/p9"
	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// TestResetUnderLoad: sessions with concurrent requests, ended by a device
// reset over and over. Under -race this is the regression test of the
// p9 server's end-of-connection race that serverEnd works around
// (session.go): without the grace period it reports a data race within a
// few dozen rounds.
func TestResetUnderLoad(t *testing.T) {
	_, root := tree(t)
	dev, err := p9.New(root, p9.Options{Tag: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	d := vt.New(t, dev, vt.Options{MemSize: 32 << 20})
	mark := d.AllocMark()
	for round := range 20 {
		d.AllocRelease(mark)
		if err := d.Mem.WriteAt(make([]byte, 8<<20), mark); err != nil { // a driver's rings start zeroed
			t.Fatal(err)
		}
		d.Init(allFeatures)
		q := d.SetupQueue(0, 64)
		d.DriverOK()
		c := newChainConn(d, q, testMsize, 8)
		cl, err := lib9p.NewClient(c, lib9p.WithMessageSize(testMsize))
		if err != nil {
			t.Fatal(round, err)
		}
		rootF, err := cl.Attach("")
		if err != nil {
			t.Fatal(round, err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					_, _, _, _ = rootF.GetAttr(lib9p.AttrMaskAll)
				}
			}()
		}
		wg.Wait()
		if err := c.Close(); err != nil {
			t.Fatal(round, err)
		}
		d.Reset()
	}
	if n := dev.Stats.ServerPanics.Load(); n != 0 {
		t.Errorf("%d panics of the server's connection", n)
	}
}
