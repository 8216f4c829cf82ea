package boottimer

import (
	"bytes"
	"testing"
	"time"
)

func TestMark(t *testing.T) {
	tests := []struct {
		off  uint64
		data []byte
		mark bool
	}{
		{0, []byte{MagicValue}, true},
		{0, []byte{122}, false},
		{0, []byte{124}, false},
		{0, []byte{0}, false},
		{0, nil, false},
		{0, []byte{MagicValue, 0}, false}, // 1-byte writes only
		{0, []byte{MagicValue, 0, 0, 0}, false},
		{0, make([]byte, 4096), false},
		{1, []byte{MagicValue}, false},
		{0xfff, []byte{MagicValue}, false},
		{^uint64(0), []byte{MagicValue}, false},
	}
	for _, tt := range tests {
		var marks []time.Time
		timer := New(func(at time.Time) { marks = append(marks, at) })
		before := time.Now()
		timer.Write(tt.off, tt.data)
		after := time.Now()
		if (len(marks) == 1) != tt.mark || len(marks) > 1 {
			t.Errorf("Write(%#x, % x): %d marks, want mark=%v", tt.off, tt.data[:min(len(tt.data), 8)], len(marks), tt.mark)
			continue
		}
		if tt.mark && (marks[0].Before(before) || marks[0].After(after)) {
			t.Errorf("mark at %v, not between %v and %v", marks[0], before, after)
		}
		if got := timer.Ignored(); (got == 1) == tt.mark {
			t.Errorf("Write(%#x, % x): Ignored = %d", tt.off, tt.data[:min(len(tt.data), 8)], got)
		}
	}
}

func TestEveryMark(t *testing.T) {
	n := 0
	timer := New(func(time.Time) { n++ })
	timer.Write(0, []byte{MagicValue})
	timer.Write(0, []byte{MagicValue})
	if n != 2 {
		t.Fatalf("%d marks, want 2 (the VMM keeps the first)", n)
	}
}

func TestReadsZero(t *testing.T) {
	timer := New(nil)
	for _, size := range []int{0, 1, 4, 8, 4096} {
		data := bytes.Repeat([]byte{0xaa}, size)
		timer.Read(0, data)
		if !bytes.Equal(data, make([]byte, size)) {
			t.Errorf("%d-byte read not zero", size)
		}
	}
	timer.Write(0, []byte{MagicValue}) // nil callback: no panic
}
