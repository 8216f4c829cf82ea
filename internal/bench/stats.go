package bench

import (
	"fmt"
	"slices"
	"time"
)

// Summary is the P50, minimum and maximum of a sample.
type Summary[T number] struct {
	N   int `json:"n"`
	P50 T   `json:"p50"`
	Min T   `json:"min"`
	Max T   `json:"max"`
}

type number interface {
	~int64 | ~uint64 | ~float64
}

// Summarize returns the sample's summary; the zero Summary (N == 0) for an
// empty one. P50 is the median: the middle value, or the mean of the two
// middle values of an even-sized sample.
func Summarize[T number](xs []T) Summary[T] {
	if len(xs) == 0 {
		return Summary[T]{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	p50 := s[n/2]
	if n%2 == 0 {
		lo, hi := s[n/2-1], s[n/2]
		p50 = lo + (hi-lo)/2 // sorted: no overflow, no negative difference
	}
	return Summary[T]{N: n, P50: p50, Min: s[0], Max: s[n-1]}
}

// ms formats a duration in milliseconds, aligned in tables.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// mib formats a byte count in MiB.
func mib(b uint64) string {
	return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
}

// nsPer formats a per-exit cost.
func nsPer(ns float64) string {
	return fmt.Sprintf("%.1f ns", ns)
}
