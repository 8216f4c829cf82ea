package virtio_test

import (
	"errors"
	"testing"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
)

func TestSlices(t *testing.T) {
	mem, err := guestmem.NewBytes(guestmem.Range{Base: 0, Size: 0x10000}, guestmem.Range{Base: 0x10000 + 0x1000, Size: 0x1000})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := mem.Slice(0, 0x10000)
	for i := range host {
		host[i] = byte(i)
	}
	bufs := []virtio.Buffer{
		{Addr: 0x100, Len: 0x10}, {Addr: 0x110, Len: 0x10}, // adjacent: one slice
		{Addr: 0x200, Len: 0x20},                           // a gap: a new slice
		{Addr: 0xfff0, Len: 0x10}, {Addr: 0x11000, Len: 8}, // adjacent only in numbers? no: 0x10000 != 0x11000
	}
	for _, c := range []struct {
		name    string
		off, n  uint64
		lens    []int
		wantErr bool
	}{
		{"all", 0, 0x58, []int{0x20, 0x20, 0x10, 8}, false},
		{"inside the first pair", 0x8, 0x10, []int{0x10}, false},
		{"from the middle", 0x18, 0x20, []int{0x8, 0x18}, false},
		{"nothing", 0x58, 0, nil, false},
		{"past the end", 0x50, 0x10, []int{8}, true},
	} {
		got, err := virtio.Slices(mem, bufs, c.off, c.n, nil)
		if (err != nil) != c.wantErr || c.wantErr && !errors.Is(err, virtio.ErrShortChain) {
			t.Errorf("%s: error %v", c.name, err)
		}
		var lens []int
		for _, s := range got {
			lens = append(lens, len(s))
		}
		if len(lens) != len(c.lens) {
			t.Errorf("%s: slice lengths %v, want %v", c.name, lens, c.lens)
			continue
		}
		for i := range lens {
			if lens[i] != c.lens[i] {
				t.Errorf("%s: slice lengths %v, want %v", c.name, lens, c.lens)
				break
			}
		}
	}
	// Merged slices alias guest memory in order.
	got, _ := virtio.Slices(mem, bufs[:2], 0, 0x20, nil)
	if got[0][0] != 0x00 || got[0][0x1f] != 0x1f || &got[0][0] != &host[0x100] {
		t.Error("merged slice does not alias guest memory at 0x100")
	}
	// A caller's earlier slices are never merged into.
	pre := [][]byte{host[0xf0:0x100]}
	got, _ = virtio.Slices(mem, bufs[:1], 0, 0x10, pre)
	if len(got) != 2 || len(got[0]) != 0x10 {
		t.Errorf("merged into the caller's slice: %d slices", len(got))
	}
}

func TestReadFromWriteTo(t *testing.T) {
	mem, _ := guestmem.NewBytes(guestmem.Range{Base: 0, Size: 0x1000})
	bufs := []virtio.Buffer{{Addr: 0x10, Len: 3}, {Addr: 0x40, Len: 5}}
	if err := virtio.WriteTo(mem, bufs, 1, []byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 8)
	if err := virtio.ReadFrom(mem, bufs, 0, p); err != nil {
		t.Fatal(err)
	}
	if string(p) != "\x00abcdef\x00" {
		t.Errorf("read back %q", p)
	}
	if err := virtio.ReadFrom(mem, bufs, 4, p[:5]); !errors.Is(err, virtio.ErrShortChain) {
		t.Errorf("read past the end: %v", err)
	}
	if err := virtio.WriteTo(mem, bufs, 8, []byte{1}); !errors.Is(err, virtio.ErrShortChain) {
		t.Errorf("write past the end: %v", err)
	}
}
