package bench

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		want Summary[time.Duration]
	}{
		{"empty", nil, Summary[time.Duration]{}},
		{"one", []time.Duration{5 * ms}, Summary[time.Duration]{N: 1, P50: 5 * ms, Min: 5 * ms, Max: 5 * ms}},
		{"odd, unsorted", []time.Duration{9 * ms, 1 * ms, 4 * ms}, Summary[time.Duration]{N: 3, P50: 4 * ms, Min: 1 * ms, Max: 9 * ms}},
		{"even: mean of the middle two", []time.Duration{10 * ms, 2 * ms, 4 * ms, 100 * ms}, Summary[time.Duration]{N: 4, P50: 7 * ms, Min: 2 * ms, Max: 100 * ms}},
		{"ties", []time.Duration{3, 3, 3, 3}, Summary[time.Duration]{N: 4, P50: 3, Min: 3, Max: 3}},
	}
	for _, tc := range tests {
		in := append([]time.Duration(nil), tc.in...)
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("%s: Summarize(%v) = %+v, want %+v", tc.name, tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("%s: Summarize reordered its input", tc.name)
			}
		}
	}
}

func TestSummarizeUnsignedNoOverflow(t *testing.T) {
	got := Summarize([]uint64{math.MaxUint64, math.MaxUint64 - 2})
	if got.P50 != math.MaxUint64-1 {
		t.Errorf("P50 = %d, want %d", got.P50, uint64(math.MaxUint64-1))
	}
}

func TestSummarizeFloat(t *testing.T) {
	got := Summarize([]float64{1.5, 2.5})
	if got.P50 != 2 || got.Min != 1.5 || got.Max != 2.5 {
		t.Errorf("Summarize = %+v", got)
	}
}
