package devicestest

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hullvm/hull/devices"
)

// Trigger is a devices.Trigger that counts calls. The zero value is ready;
// it is safe for concurrent use.
type Trigger struct {
	n   atomic.Uint64
	err atomic.Pointer[error]
}

var _ devices.Trigger = (*Trigger)(nil)

// Trigger counts the call and returns the error set by Fail, if any. A call
// that fails is still counted.
func (t *Trigger) Trigger() error {
	t.n.Add(1)
	if p := t.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Count returns the number of Trigger calls so far.
func (t *Trigger) Count() uint64 { return t.n.Load() }

// Fail makes later Trigger calls return err (nil: succeed again).
func (t *Trigger) Fail(err error) {
	if err == nil {
		t.err.Store(nil)
		return
	}
	t.err.Store(&err)
}

// Op is the direction of an access.
type Op int

// Access directions.
const (
	Read Op = iota
	Write
)

func (o Op) String() string {
	if o == Write {
		return "write"
	}
	return "read"
}

// Access is one recorded access. Data is a copy: what the device returned
// for a read, what it was given for a write.
type Access struct {
	Op   Op
	Off  uint64
	Data []byte
}

func (a Access) String() string { return fmt.Sprintf("%v %#x %x", a.Op, a.Off, a.Data) }

// Recorder is a devices.Device that records every access and answers reads
// with ReadValue in every byte. Safe for concurrent use; set ReadValue before
// the first access.
type Recorder struct {
	ReadValue byte

	mu  sync.Mutex
	log []Access
}

var _ devices.Device = (*Recorder)(nil)

// Read fills data with ReadValue and records the access.
func (r *Recorder) Read(off uint64, data []byte) {
	for i := range data {
		data[i] = r.ReadValue
	}
	r.add(Read, off, data)
}

// Write records the access.
func (r *Recorder) Write(off uint64, data []byte) { r.add(Write, off, data) }

func (r *Recorder) add(op Op, off uint64, data []byte) {
	r.mu.Lock()
	r.log = append(r.log, Access{Op: op, Off: off, Data: append([]byte(nil), data...)})
	r.mu.Unlock()
}

// Accesses returns a copy of the accesses so far, in order.
func (r *Recorder) Accesses() []Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Access(nil), r.log...)
}
