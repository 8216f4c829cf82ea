package virtio_test

import (
	"testing"

	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// BenchmarkRoundTrip is one chain through the transport and back: post,
// kick the eventfd, the worker wakes, the device completes it, the
// interrupt eventfd wakes the driver. Its cost is the two thread wake-ups.
func BenchmarkRoundTrip(b *testing.B) {
	dev := newLoopDev(256)
	d := vt.New(b, dev, vt.Options{})
	d.Init(fVersion1 | fEventIdx)
	q := d.SetupQueue(0, 256)
	d.DriverOK()
	buf := d.Alloc(8, 8)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Add(vt.Buf{Addr: buf, Len: 8, Write: true})
		q.KickEventFD()
		q.Wait()
	}
}
