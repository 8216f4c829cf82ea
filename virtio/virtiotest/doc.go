// Package virtiotest plays a virtio driver against a device model, over
// guest memory made of plain bytes, so every virtio device is tested in the
// unit tier without KVM (vm-virtio's mock.rs, Firecracker's test_utils.rs).
//
//	dev := rng.New()
//	d := virtiotest.New(t, dev, virtiotest.Options{})
//	d.Init(virtio.Bit(virtio.VIRTIO_F_VERSION_1))
//	q := d.SetupQueue(0, 16)
//	d.DriverOK()
//	buf := d.Alloc(64, 8)
//	head := q.Add(virtiotest.Buf{Addr: buf, Len: 64, Write: true})
//	q.Kick()
//	u := q.Wait() // u.ID == head, u.Len == 64; fails the test without an interrupt
//
// Raw access for hostile drivers: WriteDesc, WriteTable, SetAvailIdx,
// SetAvailEntry and Publish write whatever the test asks for; Reg and
// SetReg reach every register. The ring indexes are written with guestmem's
// atomic accessors, as a real driver's barriers would order them.
package virtiotest
