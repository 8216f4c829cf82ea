package devices

// Device is a device on a bus. off is the offset inside the device's own
// range; len(data) is the access width (1, 2, 4 or 8, or the element size of
// a rep string instruction), and a hostile guest can make it anything,
// including 0. Read fills data; Write consumes it. Neither may keep data
// after returning, and neither may panic, whatever off and len(data) are.
//
// The bus calls Read and Write from several vCPU goroutines at once: a device
// does its own locking.
type Device interface {
	Read(off uint64, data []byte)
	Write(off uint64, data []byte)
}

// Trigger raises a device's interrupt: an irqfd in the VMM, a counter in
// tests (devicestest.Trigger). A Trigger is an edge: each call is one
// interrupt request, and calls while one is already pending may merge.
// Devices count failures; they are host-side faults the guest cannot cause.
type Trigger interface {
	Trigger() error
}
