package virtio_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hullvm/hull/virtio"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

const (
	sACK        = virtio.VIRTIO_CONFIG_S_ACKNOWLEDGE
	sDRIVER     = virtio.VIRTIO_CONFIG_S_DRIVER
	sFEATURESOK = virtio.VIRTIO_CONFIG_S_FEATURES_OK
	sDRIVEROK   = virtio.VIRTIO_CONFIG_S_DRIVER_OK
	sNEEDSRESET = virtio.VIRTIO_CONFIG_S_NEEDS_RESET
	sFAILED     = virtio.VIRTIO_CONFIG_S_FAILED

	fVersion1 = uint64(1) << virtio.VIRTIO_F_VERSION_1
	fEventIdx = uint64(1) << virtio.VIRTIO_RING_F_EVENT_IDX
	fIndirect = uint64(1) << virtio.VIRTIO_RING_F_INDIRECT_DESC
)

// TestRegistersAtReset checks every readable register's initial value
// against virtio 1.x §4.2.2.
func TestRegistersAtReset(t *testing.T) {
	dev := newLoopDev(64, 8)
	d := vt.New(t, dev, vt.Options{})
	for _, c := range []struct {
		name string
		sel  uint32 // QueueSel
		off  uint64
		want uint32
	}{
		{"MagicValue", 0, vt.RegMagicValue, 0x74726976},
		{"Version", 0, vt.RegVersion, 2},
		{"DeviceID", 0, vt.RegDeviceID, 0x7e57},
		{"VendorID", 0, vt.RegVendorID, virtio.VendorID},
		{"QueueNumMax q0", 0, vt.RegQueueNumMax, 64},
		{"QueueNumMax q1", 1, vt.RegQueueNumMax, 8},
		{"QueueNumMax q2 (none)", 2, vt.RegQueueNumMax, 0},
		{"QueueNumMax huge sel", 0xffffffff, vt.RegQueueNumMax, 0},
		{"QueueReady", 0, vt.RegQueueReady, 0},
		{"QueueReady no queue", 7, vt.RegQueueReady, 0},
		{"InterruptStatus", 0, vt.RegInterruptStatus, 0},
		{"Status", 0, vt.RegStatus, 0},
		{"ConfigGeneration", 0, vt.RegConfigGeneration, 0},
		{"SHMLenLow (no region)", 0, 0x0b0, 0xffffffff},
		{"SHMLenHigh (no region)", 0, 0x0b4, 0xffffffff},
		{"QueueReset", 0, 0x0c0, 0},
		// write-only and unassigned registers read as 0
		{"QueueNotify (W)", 0, vt.RegQueueNotify, 0},
		{"DriverFeatures (W)", 0, vt.RegDriverFeatures, 0},
		{"QueueNum (W)", 0, vt.RegQueueNum, 0},
		{"legacy QueuePFN", 0, 0x040, 0},
		{"unassigned 0x0f8", 0, 0x0f8, 0},
	} {
		d.SetReg(vt.RegQueueSel, c.sel)
		if got := d.Reg(c.off); got != c.want {
			t.Errorf("%s (%#x): %#x, want %#x", c.name, c.off, got, c.want)
		}
	}
}

func TestDeviceFeatures(t *testing.T) {
	dev := newLoopDev()
	dev.features = 1<<3 | 1<<40
	d := vt.New(t, dev, vt.Options{})
	want := dev.features | fVersion1 | fEventIdx | fIndirect
	for sel, w := range []uint32{uint32(want), uint32(want >> 32), 0, 0} {
		d.SetReg(vt.RegDeviceFeaturesSel, uint32(sel))
		if got := d.Reg(vt.RegDeviceFeatures); got != w {
			t.Errorf("DeviceFeatures[sel %d] = %#x, want %#x", sel, got, w)
		}
	}
}

func TestFeatureNegotiation(t *testing.T) {
	for _, c := range []struct {
		name   string
		accept uint64 // written as is, not masked by the offer
		ok     bool
	}{
		{"VERSION_1 only", fVersion1, true},
		{"all offered", fVersion1 | fEventIdx | fIndirect | 1<<3, true},
		{"no VERSION_1 (legacy driver)", fEventIdx, false},
		{"nothing", 0, false},
		{"a bit not offered", fVersion1 | 1<<5, false},
		{"RING_PACKED not offered", fVersion1 | 1<<virtio.VIRTIO_F_RING_PACKED, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := newLoopDev()
			dev.features = 1 << 3
			d := vt.New(t, dev, vt.Options{})
			d.SetReg(vt.RegStatus, sACK)
			d.SetReg(vt.RegStatus, sACK|sDRIVER)
			d.WriteFeatures(c.accept)
			d.SetReg(vt.RegStatus, sACK|sDRIVER|sFEATURESOK)
			got := d.Status()&sFEATURESOK != 0
			if got != c.ok {
				t.Fatalf("FEATURES_OK kept = %v, want %v (status %#x)", got, c.ok, d.Status())
			}
			if !c.ok {
				// §3.1.1: the driver may try again with fewer features.
				d.WriteFeatures(fVersion1)
				d.SetReg(vt.RegStatus, sACK|sDRIVER|sFEATURESOK)
				if d.Status() != sACK|sDRIVER|sFEATURESOK {
					t.Errorf("retry with VERSION_1: status %#x", d.Status())
				}
			}
			// Features are frozen after FEATURES_OK.
			d.WriteFeatures(fVersion1 | fEventIdx)
			d.SetReg(vt.RegQueueSel, 0)
			q := d.SetupQueue(0, 16)
			d.DriverOK()
			_ = q
			dev.mu.Lock()
			defer dev.mu.Unlock()
			if want := fVersion1; c.ok && dev.ctx.Features != c.accept || !c.ok && dev.ctx.Features != want {
				t.Errorf("negotiated %#x", dev.ctx.Features)
			}
		})
	}
}

func TestDriverFeaturesOnlyBetweenDriverAndFeaturesOK(t *testing.T) {
	d := vt.New(t, newLoopDev(), vt.Options{})
	bad := d.MMIO.Counters().BadRegister.Load()
	d.WriteFeatures(fVersion1) // status 0: ignored
	d.SetReg(vt.RegStatus, sACK)
	d.SetReg(vt.RegStatus, sACK|sDRIVER)
	d.SetReg(vt.RegStatus, sACK|sDRIVER|sFEATURESOK)
	if d.Status()&sFEATURESOK != 0 {
		t.Fatal("FEATURES_OK accepted although the early feature write should have been ignored")
	}
	if got := d.MMIO.Counters().BadRegister.Load() - bad; got != 2 {
		t.Errorf("BadRegister counted %d ignored writes, want 2", got)
	}
}

// TestStatusTransitions runs sequences of status writes and checks what
// the driver reads back (§2.1, §3.1.1).
func TestStatusTransitions(t *testing.T) {
	for _, c := range []struct {
		name   string
		writes []uint32
		want   uint32
	}{
		{"ack", []uint32{sACK}, sACK},
		{"ack+driver at once", []uint32{sACK | sDRIVER}, sACK | sDRIVER},
		{"driver without ack", []uint32{sDRIVER}, 0},
		{"features ok without driver", []uint32{sACK, sACK | sFEATURESOK}, sACK},
		{"driver ok without features ok", []uint32{sACK, sACK | sDRIVER, sACK | sDRIVER | sDRIVEROK}, sACK | sDRIVER},
		{"clearing a bit is ignored", []uint32{sACK, sACK | sDRIVER, sACK}, sACK | sDRIVER},
		{"failed any time", []uint32{sACK, sACK | sFAILED}, sACK | sFAILED},
		{"reset", []uint32{sACK, sACK | sDRIVER, 0}, 0},
		{"needs_reset is the device's bit", []uint32{sACK | sNEEDSRESET}, sACK},
		{"unknown bit", []uint32{sACK, sACK | 0x10}, sACK},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := vt.New(t, newLoopDev(), vt.Options{})
			for _, w := range c.writes {
				d.SetReg(vt.RegStatus, w)
			}
			if got := d.Status(); got != c.want {
				t.Errorf("status %#x, want %#x", got, c.want)
			}
		})
	}
}

func TestFullInitAndReset(t *testing.T) {
	dev := newLoopDev(16, 16)
	d := vt.New(t, dev, vt.Options{})
	d.Init(fVersion1 | fEventIdx)
	q := d.SetupQueue(0, 16)
	d.SetReg(vt.RegQueueSel, 0)
	if d.Reg(vt.RegQueueReady) != 1 {
		t.Fatal("QueueReady does not read back 1")
	}
	d.DriverOK()
	if dev.activations.Load() != 1 {
		t.Fatalf("%d activations", dev.activations.Load())
	}
	if dev.ctx.Queues[1] != nil {
		t.Error("queue 1 was never enabled but the device got it")
	}
	buf := d.Put([]byte("ping"))
	out := d.Alloc(4, 8)
	head := q.Add(vt.Buf{Addr: buf, Len: 4}, vt.Buf{Addr: out, Len: 4, Write: true})
	q.Kick()
	if u := q.Wait(); u.ID != uint32(head) || u.Len != 4 {
		t.Fatalf("used %+v, want id %d len 4", u, head)
	}
	if got := string(d.Bytes(out, 4)); got != "ping" {
		t.Errorf("device wrote %q", got)
	}

	d.Reset()
	if dev.resets.Load() != 1 {
		t.Errorf("device Reset called %d times", dev.resets.Load())
	}
	for _, c := range []struct {
		off  uint64
		want uint32
	}{{vt.RegStatus, 0}, {vt.RegInterruptStatus, 0}, {vt.RegQueueReady, 0}} {
		d.SetReg(vt.RegQueueSel, 0)
		if got := d.Reg(c.off); got != c.want {
			t.Errorf("after reset register %#x = %#x, want %#x", c.off, got, c.want)
		}
	}
	// A kick after reset reaches no worker and does no harm.
	q.Kick()
	// The device works again after a second initialisation.
	d.Init(fVersion1)
	q = d.SetupQueue(0, 8)
	d.DriverOK()
	buf = d.Put([]byte("again"))
	out = d.Alloc(5, 8)
	q.Add(vt.Buf{Addr: buf, Len: 5}, vt.Buf{Addr: out, Len: 5, Write: true})
	q.KickEventFD()
	q.Wait()
	if got := string(d.Bytes(out, 5)); got != "again" {
		t.Errorf("after re-init the device wrote %q", got)
	}
}

func TestQueueRegistersOnlyDuringSetup(t *testing.T) {
	d := vt.New(t, newLoopDev(), vt.Options{})
	d.SetReg(vt.RegQueueSel, 0)
	d.SetReg(vt.RegQueueReady, 1) // before FEATURES_OK: ignored
	if d.Reg(vt.RegQueueReady) != 0 {
		t.Fatal("QueueReady set before FEATURES_OK")
	}
	d.Init(fVersion1)
	q := d.SetupQueue(0, 8)
	// Changes to an enabled queue are ignored.
	d.SetReg(vt.RegQueueSel, 0)
	d.SetReg(vt.RegQueueNum, 4)
	d.SetReg(vt.RegQueueDescLow, 0x12340)
	d.DriverOK()
	d.SetReg(vt.RegQueueReady, 0) // after DRIVER_OK: ignored
	if d.Reg(vt.RegQueueReady) != 1 {
		t.Fatal("QueueReady cleared after DRIVER_OK")
	}
	if q.Cfg.Size != 8 {
		t.Fatal("test setup")
	}
	buf := d.Alloc(8, 8)
	q.Add(vt.Buf{Addr: buf, Len: 8, Write: true})
	q.Kick()
	q.Wait() // still the 8-entry ring at the original address
}

func TestRegisterWidthAndAlignment(t *testing.T) {
	d := vt.New(t, newLoopDev(), vt.Options{})
	bad := d.MMIO.Counters().BadRegister.Load()
	for _, c := range []struct {
		off uint64
		n   int
	}{{vt.RegMagicValue, 1}, {vt.RegMagicValue, 2}, {vt.RegMagicValue, 8}, {vt.RegMagicValue + 1, 4}, {vt.RegStatus, 0}} {
		b := []byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}[:c.n]
		d.MMIO.Read(c.off, b)
		for _, x := range b {
			if x != 0 {
				t.Errorf("%d-byte read at %#x returned %x, want zeros", c.n, c.off, b)
				break
			}
		}
		d.MMIO.Write(vt.RegStatus, []byte{sACK}[:min(c.n, 1)])
	}
	if d.Status() != 0 {
		t.Errorf("a narrow status write took effect: %#x", d.Status())
	}
	if got := d.MMIO.Counters().BadRegister.Load() - bad; got != 10 {
		t.Errorf("BadRegister counted %d, want 10", got)
	}
}

func TestConfigSpace(t *testing.T) {
	dev := newLoopDev()
	d := vt.New(t, dev, vt.Options{})
	if got := d.Config(2, 4); string(got) != "\x03\x04\x05\x06" {
		t.Errorf("config bytes 2..5 = %x", got)
	}
	var w [4]byte
	d.MMIO.Read(vt.RegConfig+4, w[:])
	if w != [4]byte{5, 6, 7, 8} {
		t.Errorf("32-bit config read = %x", w)
	}
	if got := d.Config(0xefe, 2); string(got) != "\x00\x00" {
		t.Errorf("config past the end = %x", got)
	}
	d.MMIO.Write(vt.RegConfig+3, []byte{9, 9})
	if len(dev.configWrites) != 1 || string(dev.configWrites[0]) != "\x03\x09\x09" {
		t.Errorf("config writes %x", dev.configWrites)
	}
}

func TestConfigChangedAndInterruptAck(t *testing.T) {
	dev := newLoopDev()
	d := vt.New(t, dev, vt.Options{})
	d.Init(fVersion1)
	d.SetupQueue(0, 8)
	d.DriverOK()
	if err := dev.ctx.ConfigChanged(); err != nil {
		t.Fatal(err)
	}
	if g := d.Reg(vt.RegConfigGeneration); g != 1 {
		t.Errorf("ConfigGeneration %d after a change, want 1", g)
	}
	if isr := d.Reg(vt.RegInterruptStatus); isr != virtio.VIRTIO_MMIO_INT_CONFIG {
		t.Errorf("InterruptStatus %#x, want the config bit", isr)
	}
	if d.IRQ.Count() != 1 {
		t.Errorf("%d interrupts, want 1", d.IRQ.Count())
	}
	d.SetReg(vt.RegInterruptACK, virtio.VIRTIO_MMIO_INT_VRING) // acks nothing pending
	if isr := d.Reg(vt.RegInterruptStatus); isr != virtio.VIRTIO_MMIO_INT_CONFIG {
		t.Errorf("acking another bit changed InterruptStatus to %#x", isr)
	}
	d.SetReg(vt.RegInterruptACK, virtio.VIRTIO_MMIO_INT_CONFIG)
	if isr := d.Reg(vt.RegInterruptStatus); isr != 0 {
		t.Errorf("InterruptStatus %#x after ack", isr)
	}
}

// TestBadQueueSetupNeedsReset: an unusable queue at DRIVER_OK sets
// DEVICE_NEEDS_RESET with a configuration interrupt, and nothing runs.
func TestBadQueueSetupNeedsReset(t *testing.T) {
	const ram = vt.DefaultMemSize
	for _, c := range []struct {
		name string
		cfg  virtio.QueueConfig
	}{
		{"size 0", virtio.QueueConfig{Size: 0, Desc: 0x10000, Avail: 0x11000, Used: 0x12000}},
		{"size not a power of two", virtio.QueueConfig{Size: 12, Desc: 0x10000, Avail: 0x11000, Used: 0x12000}},
		{"size above max", virtio.QueueConfig{Size: 32, Desc: 0x10000, Avail: 0x11000, Used: 0x12000}},
		{"desc misaligned", virtio.QueueConfig{Size: 16, Desc: 0x10008, Avail: 0x11000, Used: 0x12000}},
		{"avail misaligned", virtio.QueueConfig{Size: 16, Desc: 0x10000, Avail: 0x11001, Used: 0x12000}},
		{"used misaligned", virtio.QueueConfig{Size: 16, Desc: 0x10000, Avail: 0x11000, Used: 0x12002}},
		{"desc outside RAM", virtio.QueueConfig{Size: 16, Desc: ram - 0x80, Avail: 0x11000, Used: 0x12000}},
		{"avail outside RAM", virtio.QueueConfig{Size: 16, Desc: 0x10000, Avail: ram - 8, Used: 0x12000}},
		{"used outside RAM", virtio.QueueConfig{Size: 16, Desc: 0x10000, Avail: 0x11000, Used: 1 << 40}},
		{"desc wraps", virtio.QueueConfig{Size: 16, Desc: 0xffffffffffffff00, Avail: 0x11000, Used: 0x12000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := newLoopDev()
			d := vt.New(t, dev, vt.Options{})
			d.Init(fVersion1)
			d.SetupQueueAt(0, c.cfg)
			d.SetReg(vt.RegStatus, d.Status()|sDRIVEROK)
			if s := d.Status(); s&sNEEDSRESET == 0 {
				t.Fatalf("status %#x, want NEEDS_RESET", s)
			}
			if dev.activations.Load() != 0 {
				t.Error("device activated with a bad queue")
			}
			if isr := d.Reg(vt.RegInterruptStatus); isr&virtio.VIRTIO_MMIO_INT_CONFIG == 0 || d.IRQ.Count() != 1 {
				t.Errorf("InterruptStatus %#x, %d interrupts: want one config interrupt", isr, d.IRQ.Count())
			}
			d.Reset()
			if s := d.Status(); s != 0 {
				t.Errorf("status %#x after reset", s)
			}
		})
	}
}

func TestActivateErrorNeedsReset(t *testing.T) {
	dev := newLoopDev()
	dev.activateErr = errors.New("no queue")
	d := vt.New(t, dev, vt.Options{})
	d.Init(fVersion1)
	d.SetReg(vt.RegStatus, d.Status()|sDRIVEROK)
	if s := d.Status(); s != sACK|sDRIVER|sFEATURESOK|sDRIVEROK|sNEEDSRESET {
		t.Errorf("status %#x", s)
	}
	if n := d.MMIO.Counters().NeedsReset.Load(); n != 1 {
		t.Errorf("NeedsReset counter %d", n)
	}
}

func TestQueueNotifyBadIndex(t *testing.T) {
	d := vt.New(t, newLoopDev(), vt.Options{})
	bad := d.MMIO.Counters().BadRegister.Load()
	d.SetReg(vt.RegQueueNotify, 1)
	d.SetReg(vt.RegQueueNotify, 0xffffffff)
	if got := d.MMIO.Counters().BadRegister.Load() - bad; got != 2 {
		t.Errorf("BadRegister %d, want 2", got)
	}
}

// TestHostErrorReported: an interrupt that cannot be raised is a host
// failure, reported through OnError.
func TestHostErrorReported(t *testing.T) {
	errs := make(chan error, 4)
	d := vt.New(t, newLoopDev(), vt.Options{HostErrors: func(err error) { errs <- err }})
	d.Init(fVersion1)
	q := d.SetupQueue(0, 8)
	d.DriverOK()
	d.IRQ.Fail(errors.New("irqfd gone"))
	q.Add(vt.Buf{Addr: d.Alloc(8, 8), Len: 8, Write: true})
	q.Kick()
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("nil error")
		}
	case <-time.After(vt.DefaultTimeout):
		t.Fatal("no host error reported")
	}
}

func TestCloseStopsWorkers(t *testing.T) {
	dev := newLoopDev()
	d := vt.New(t, dev, vt.Options{})
	d.Init(fVersion1)
	d.SetupQueue(0, 8)
	d.DriverOK()
	if err := d.MMIO.Close(); err != nil {
		t.Fatal(err)
	}
	if dev.resets.Load() != 1 {
		t.Errorf("Close reset the device %d times, want 1", dev.resets.Load())
	}
	d.SetReg(vt.RegQueueNotify, 0) // after Close: ignored, no panic
	d.SetReg(vt.RegStatus, 0)
	if err := d.MMIO.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
