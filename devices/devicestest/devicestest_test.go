package devicestest

import (
	"errors"
	"fmt"
	"testing"
)

func TestTrigger(t *testing.T) {
	var tr Trigger
	if err := tr.Trigger(); err != nil || tr.Count() != 1 {
		t.Fatalf("Trigger() = %v, Count %d", err, tr.Count())
	}
	boom := errors.New("boom")
	tr.Fail(boom)
	if err := tr.Trigger(); err != boom || tr.Count() != 2 {
		t.Fatalf("Trigger() = %v, Count %d", err, tr.Count())
	}
	tr.Fail(nil)
	if err := tr.Trigger(); err != nil || tr.Count() != 3 {
		t.Fatalf("Trigger() = %v, Count %d", err, tr.Count())
	}
}

func TestRecorder(t *testing.T) {
	r := &Recorder{ReadValue: 0xab}
	data := []byte{0, 0}
	r.Read(2, data)
	r.Write(4, []byte{1, 2})
	data[0] = 0 // the log holds copies
	if got := fmt.Sprint(r.Accesses()); got != "[read 0x2 abab write 0x4 0102]" {
		t.Fatalf("Accesses() = %s", got)
	}
}
