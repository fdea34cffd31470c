package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// spread is what a figure measured once per round comes to: the median of
// the rounds, and the lowest and highest. With 5 rounds or more, the
// median lies between those two with probability at least 94% (1 - 2/2^n),
// whatever the distribution: the interval reported.
type spread struct{ med, lo, hi float64 }

// summarize returns the spread of xs; NaN for none.
func summarize(xs []float64) spread {
	if len(xs) == 0 {
		return spread{med: math.NaN(), lo: math.NaN(), hi: math.NaN()}
	}
	s := slices.Sorted(slices.Values(xs))
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med: med, lo: s[0], hi: s[len(s)-1]}
}

// format formats s with verb ("%.2f") and unit, the interval in
// parentheses when the rounds differ: "0.93× (0.90–0.95)".
func (s spread) format(verb, unit string) string {
	if math.IsNaN(s.med) {
		return "–"
	}
	med := fmt.Sprintf(verb, s.med) + unit
	lo, hi := fmt.Sprintf(verb, s.lo), fmt.Sprintf(verb, s.hi)
	if lo == hi {
		return med
	}
	return med + " (" + lo + "–" + hi + ")"
}

// percentile returns the p-th quantile (0 to 1) of sorted, by the nearest
// rank below; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}
