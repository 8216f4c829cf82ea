package exitport

import (
	"bytes"
	"testing"
)

func TestCodes(t *testing.T) {
	tests := []struct {
		off  uint64
		data []byte
		want []uint32 // exits, in order; nil: ignored
	}{
		{0, []byte{0}, []uint32{0}},
		{0, []byte{0x2a}, []uint32{42}},
		{0, []byte{0xff}, []uint32{0xff}}, // zero-extended, not sign-extended
		{0, []byte{0x34, 0x12}, []uint32{0x1234}},
		{0, []byte{0x78, 0x56, 0x34, 0x12}, []uint32{0x12345678}},
		{0, []byte{0xff, 0xff, 0xff, 0xff}, []uint32{0xffffffff}},
		{0, nil, nil},
		{0, []byte{1, 2, 3}, nil},
		{0, []byte{1, 2, 3, 4, 5, 6, 7, 8}, nil},
		{0, make([]byte, 4096), nil},
		{1, []byte{1}, nil},
		{2, []byte{1, 0}, nil},
		{^uint64(0), []byte{1}, nil},
	}
	for _, tt := range tests {
		var got []uint32
		p := New(func(code uint32) { got = append(got, code) })
		p.Write(tt.off, tt.data)
		if len(got) != len(tt.want) || (len(got) == 1 && got[0] != tt.want[0]) {
			t.Errorf("Write(%d, % x): exits %v, want %v", tt.off, tt.data, got, tt.want)
		}
		if ignored := p.Ignored(); (ignored == 1) != (tt.want == nil) || ignored > 1 {
			t.Errorf("Write(%d, % x): Ignored = %d", tt.off, tt.data, ignored)
		}
	}
}

func TestEveryWriteExits(t *testing.T) {
	var got []uint32
	p := New(func(code uint32) { got = append(got, code) })
	p.Write(0, []byte{3})
	p.Write(0, []byte{4})
	if len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("exits %v", got)
	}
}

func TestReadsZero(t *testing.T) {
	p := New(nil)
	for _, size := range []int{0, 1, 2, 4, 8, 4096} {
		data := bytes.Repeat([]byte{0xaa}, size)
		p.Read(0, data)
		if !bytes.Equal(data, make([]byte, size)) {
			t.Errorf("%d-byte read not zero", size)
		}
	}
	p.Write(0, []byte{1}) // nil callback: no panic
}
