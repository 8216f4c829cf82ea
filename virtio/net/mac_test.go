package net

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseMAC(t *testing.T) {
	for _, c := range []struct {
		in   string
		want MAC
		ok   bool
	}{
		{"02:00:00:aa:bb:cc", MAC{2, 0, 0, 0xaa, 0xbb, 0xcc}, true},
		{"52-54-00-12-34-56", MAC{0x52, 0x54, 0, 0x12, 0x34, 0x56}, true},
		{"01:00:5e:00:00:01", MAC{}, false}, // multicast
		{"00:00:00:00:00:00", MAC{}, false},
		{"02:00:00:aa:bb", MAC{}, false},
		{"02:00:00:aa:bb:cc:dd:ee", MAC{}, false}, // EUI-64
		{"nonsense", MAC{}, false},
	} {
		got, err := ParseMAC(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want || !c.ok && !errors.Is(err, ErrBadMAC) {
			t.Errorf("ParseMAC(%q) = %s, %v", c.in, got, err)
		}
	}
}

func TestMACText(t *testing.T) {
	m := MAC{2, 0, 0, 0xaa, 0xbb, 0xcc}
	b, err := json.Marshal(struct{ M MAC }{m})
	if err != nil || string(b) != `{"M":"02:00:00:aa:bb:cc"}` {
		t.Fatalf("%s %v", b, err)
	}
	var back struct{ M MAC }
	if err := json.Unmarshal(b, &back); err != nil || back.M != m {
		t.Fatalf("%s %v", back.M, err)
	}
}

func TestLocalMAC(t *testing.T) {
	a, b := LocalMAC("tap0"), LocalMAC("tap1")
	if a != LocalMAC("tap0") || a == b {
		t.Fatalf("LocalMAC: %s, %s", a, b)
	}
	for _, m := range []MAC{a, b} {
		if m[0]&3 != 2 || m.Check() != nil {
			t.Errorf("%s is not a locally administered unicast address", m)
		}
	}
}
