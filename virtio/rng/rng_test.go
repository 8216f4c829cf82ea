package rng_test

import (
	"bytes"
	"testing"

	"github.com/hullvm/hull/virtio"
	"github.com/hullvm/hull/virtio/rng"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

func TestRNG(t *testing.T) {
	dev := rng.New()
	d := vt.New(t, dev, vt.Options{})
	if id := d.Reg(vt.RegDeviceID); id != uint32(virtio.VIRTIO_ID_RNG) {
		t.Fatalf("device ID %d, want 4", id)
	}
	d.Init(^uint64(0))
	q := d.SetupQueue(0, 16)
	d.DriverOK()

	// Two writable buffers in one chain, plus a readable one the device ignores.
	ro := d.Put([]byte("untouched"))
	a, b := d.Alloc(64, 8), d.Alloc(4096, 8)
	head := q.Add(vt.Buf{Addr: ro, Len: 9}, vt.Buf{Addr: a, Len: 64, Write: true}, vt.Buf{Addr: b, Len: 4096, Write: true})
	q.Kick()
	u := q.Wait()
	if u.ID != uint32(head) || u.Len != 64+4096 {
		t.Fatalf("used %+v, want id %d len %d", u, head, 64+4096)
	}
	if bytes.Equal(d.Bytes(a, 64), make([]byte, 64)) || bytes.Equal(d.Bytes(b, 4096), make([]byte, 4096)) {
		t.Error("buffers still zero")
	}
	if string(d.Bytes(ro, 9)) != "untouched" {
		t.Error("the device wrote a readable buffer")
	}

	// A chain larger than MaxRequest gets MaxRequest bytes.
	big := d.Alloc(rng.MaxRequest+4096, 8)
	q.Add(vt.Buf{Addr: big, Len: rng.MaxRequest + 4096, Write: true})
	q.Kick()
	if u := q.Wait(); u.Len != rng.MaxRequest {
		t.Errorf("used length %d for a %d-byte buffer, want %d", u.Len, rng.MaxRequest+4096, rng.MaxRequest)
	}
	if !bytes.Equal(d.Bytes(big+rng.MaxRequest, 4096), make([]byte, 4096)) {
		t.Error("the device wrote past MaxRequest")
	}
	// No writable buffer: nothing written.
	q.Add(vt.Buf{Addr: ro, Len: 9})
	q.Kick()
	if u := q.Wait(); u.Len != 0 {
		t.Errorf("used length %d for a readable-only chain", u.Len)
	}
	if n := dev.Bytes.Load(); n != 64+4096+rng.MaxRequest {
		t.Errorf("Bytes counter %d", n)
	}
}

func TestRNGNeedsQueue(t *testing.T) {
	d := vt.New(t, rng.New(), vt.Options{})
	d.Init(^uint64(0))
	d.SetReg(vt.RegStatus, d.Status()|virtio.VIRTIO_CONFIG_S_DRIVER_OK)
	if d.Status()&virtio.VIRTIO_CONFIG_S_NEEDS_RESET == 0 {
		t.Errorf("status %#x: DRIVER_OK without the request queue should need a reset", d.Status())
	}
}
