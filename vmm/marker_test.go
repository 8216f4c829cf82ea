package vmm

import (
	"bytes"
	"io"
	"testing"
)

func TestMarkerWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   int // times found was called
	}{
		{"one write", []string{"boot...\nhull-agent ready (x)\n"}, 1},
		{"split", []string{"hull-ag", "ent re", "ady\n"}, 1},
		{"byte by byte", []string{"h", "u", "l", "l", "-", "a", "g", "e", "n", "t", " ", "r", "e", "a", "d", "y"}, 1},
		{"twice", []string{"hull-agent ready\n", "hull-agent ready\n"}, 1},
		{"absent", []string{"hull-agent not ready", "hull-agent rea"}, 0},
		{"empty writes", []string{"", "hull-agent ready", ""}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			n := 0
			w := newMarkerWriter(&out, "hull-agent ready", func() { n++ })
			var all string
			for _, s := range tc.writes {
				if k, err := w.Write([]byte(s)); err != nil || k != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, k, err)
				}
				all += s
			}
			if n != tc.want {
				t.Errorf("found %d times, want %d", n, tc.want)
			}
			if out.String() != all {
				t.Errorf("output %q, want %q unchanged", out.String(), all)
			}
		})
	}
}

func TestMarkerWriterDoesNotAllocate(t *testing.T) {
	w := newMarkerWriter(io.Discard, "hull-agent ready", func() {})
	b := []byte{'x'}
	if n := testing.AllocsPerRun(1000, func() { _, _ = w.Write(b) }); n != 0 {
		t.Fatalf("%v allocations per one-byte console write before the marker", n)
	}
}
