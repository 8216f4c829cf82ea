package virtio_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/hullvm/hull/guestmem"
	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// fuzzState is the fuzz input's fixed part, decoded little-endian; the
// rest of the input is copied into guest memory at fuzzStateRings, where
// the seeds put their rings.
type fuzzState struct {
	Status, ISR uint32
	Features    uint64
	Flags       uint8 // bit 0 active, 1 needs reset, 2-3 queue ready, 4-5 queue active, 6-7 queue broken
	Queues      [2]fuzzQueue
	DeviceLen   uint8 // bytes of device state (the loop device has none)
}

type fuzzQueue struct {
	Num                         uint32
	Desc, Avail, Used           uint64
	NextAvail, NextUsed, Signal uint16
	SignalValid                 uint8
}

const (
	fuzzStateRAM   = 64 << 10
	fuzzStateRings = 0x1000
)

func (f *fuzzState) state() virtio.MMIOState {
	st := virtio.MMIOState{
		Version:         virtio.MMIOStateVersion,
		DeviceType:      0x7e57,
		QueueMax:        []uint16{16, 8},
		Status:          f.Status,
		NeedsReset:      f.Flags&2 != 0,
		DriverFeatures:  f.Features,
		InterruptStatus: f.ISR,
		Active:          f.Flags&1 != 0,
		Device:          make([]byte, f.DeviceLen%2),
	}
	if len(st.Device) == 0 {
		st.Device = nil
	}
	for i, q := range f.Queues {
		st.Queues = append(st.Queues, virtio.QueueState{
			Num: q.Num, Ready: f.Flags&(4<<i) != 0, Desc: q.Desc, Avail: q.Avail, Used: q.Used,
			Active: f.Flags&(16<<i) != 0, NextAvail: q.NextAvail, NextUsed: q.NextUsed,
			Signalled: q.Signal, SignalledValid: q.SignalValid&1 != 0, Broken: f.Flags&(64<<i) != 0,
		})
	}
	return st
}

func fuzzStateInput(f fuzzState, rings []byte) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, &f); err != nil {
		panic(err)
	}
	return append(b.Bytes(), rings...)
}

// fuzzStateSeeds are FuzzRestoreState's seeds; the first one restores.
func fuzzStateSeeds() [][]byte {
	good := fuzzState{
		Status: sACK | sDRIVER | sFEATURESOK | sDRIVEROK, Features: fVersion1 | fEventIdx,
		Flags:  1 | 4 | 16,
		Queues: [2]fuzzQueue{{Num: 16, Desc: 0x1000, Avail: 0x1100, Used: 0x1200, NextAvail: 3, NextUsed: 3, Signal: 3, SignalValid: 1}},
	}
	// The rings: one chain (a readable and a writable buffer at 0x2000)
	// made available after the saved position.
	rings := make([]byte, 0x300)
	binary.LittleEndian.PutUint64(rings[0:], 0x2000)
	binary.LittleEndian.PutUint32(rings[8:], 8)
	binary.LittleEndian.PutUint16(rings[12:], virtio.VRING_DESC_F_NEXT)
	binary.LittleEndian.PutUint16(rings[14:], 1)
	binary.LittleEndian.PutUint64(rings[16:], 0x2008)
	binary.LittleEndian.PutUint32(rings[24:], 8)
	binary.LittleEndian.PutUint16(rings[28:], virtio.VRING_DESC_F_WRITE)
	binary.LittleEndian.PutUint16(rings[0x102:], 4) // avail.idx
	binary.LittleEndian.PutUint16(rings[0x104+2*3:], 0)
	seeds := [][]byte{fuzzStateInput(good, rings)}
	for _, mut := range []func(*fuzzState){
		func(s *fuzzState) { s.Queues[0].Num = 12 },
		func(s *fuzzState) { s.Queues[0].Used = fuzzStateRAM - 8 },
		func(s *fuzzState) { s.Features |= 1 << 40 },
		func(s *fuzzState) { s.Flags |= 64 }, // broken
		func(s *fuzzState) { s.Queues[0].NextAvail++ },
		func(s *fuzzState) { s.DeviceLen = 1 },
	} {
		bad := good
		mut(&bad)
		seeds = append(seeds, fuzzStateInput(bad, rings))
	}
	corrupt := append([]byte(nil), rings...)
	binary.LittleEndian.PutUint16(corrupt[0x102:], 0x9000) // avail.idx far ahead: a corrupt ring
	return append(seeds, fuzzStateInput(good, corrupt))
}

// decodeFuzzState splits a fuzz input into the state and the rings.
func decodeFuzzState(t *testing.T, in []byte) (virtio.MMIOState, []byte) {
	size := binary.Size(fuzzState{})
	if len(in) < size {
		in = append(in, make([]byte, size-len(in))...)
	}
	var fs fuzzState
	if err := binary.Read(bytes.NewReader(in[:size]), binary.LittleEndian, &fs); err != nil {
		t.Fatal(err)
	}
	rings := in[size:]
	if len(rings) > fuzzStateRAM-fuzzStateRings {
		rings = rings[:fuzzStateRAM-fuzzStateRings]
	}
	return fs.state(), rings
}

// FuzzRestoreState: whatever a snapshot file holds, RestoreState refuses
// it with an error or restores a device that then runs (Resume, kicks on
// every queue, Pause, Close) without a panic and without touching memory
// outside guest RAM (guestmem would refuse).
func FuzzRestoreState(f *testing.F) {
	for _, s := range fuzzStateSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		st, rings := decodeFuzzState(t, in)
		d := vt.New(t, newLoopDev(16, 8), vt.Options{MemSize: fuzzStateRAM, HostErrors: func(error) {}})
		if err := d.Mem.WriteAt(rings, guestmem.GPA(fuzzStateRings)); err != nil {
			t.Fatal(err)
		}
		if err := d.MMIO.RestoreState(st); err != nil {
			return
		}
		if err := d.MMIO.Resume(); err != nil {
			t.Fatal(err)
		}
		for q := range 3 {
			d.SetReg(vt.RegQueueNotify, uint32(q))
		}
		// Give the workers a moment on the rings, then stop them (the
		// harness closes the transport at the end of the test).
		time.Sleep(time.Millisecond)
		if err := d.MMIO.Pause(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFuzzRestoreStateSeed: the fuzz target's first seed restores and the
// chain its rings hold is served at the saved position, so the target
// exercises restored devices, not only refusals.
func TestFuzzRestoreStateSeed(t *testing.T) {
	st, rings := decodeFuzzState(t, fuzzStateSeeds()[0])
	d := vt.New(t, newLoopDev(16, 8), vt.Options{MemSize: fuzzStateRAM})
	if err := d.Mem.WriteAt(rings, guestmem.GPA(fuzzStateRings)); err != nil {
		t.Fatal(err)
	}
	if err := d.MMIO.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	d.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for {
		idx, err := d.Mem.LoadUint16Acquire(0x1202)
		if err != nil {
			t.Fatal(err)
		}
		if idx == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("used.idx %d, want 4", idx)
		}
		time.Sleep(time.Millisecond)
	}
}
