package main

import "testing"

func TestParseVsock(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cid  uint64
		path string
		ok   bool
	}{
		{"cid=3,uds=/run/v.sock", 3, "/run/v.sock", true},
		{"uds=/tmp/a,cid=42", 42, "/tmp/a", true},
		{"cid=2,uds=/x", 0, "", false},
		{"cid=4294967295,uds=/x", 0, "", false},
		{"cid=x,uds=/x", 0, "", false},
		{"cid=3", 0, "", false},
		{"uds=/x", 0, "", false},
		{"cid=3,uds=", 0, "", false},
		{"cid=3,uds=/x,foo=1", 0, "", false},
		{"", 0, "", false},
	} {
		v, err := parseVsock(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.ok && (v.CID != tc.cid || v.UDSPath != tc.path) {
			t.Errorf("%q: got %+v", tc.in, v)
		}
	}
}
