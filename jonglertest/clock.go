package jonglertest

import (
	"context"
	"math"
	"math/bits"
	"time"
)

// Clock is the simulated clock of a [Server]. Simulated time starts at
// [Config.Start] when the server is created and advances one minute for every
// [Config.Minute] of wall time: with Minute = 60ms it runs a thousand times
// faster than wall time.
//
// Every quota window, retryDelay and window index the server reports is in
// simulated time, so a client that waits with [Clock.Sleep] for the
// retryDelay it was given wakes up exactly when the quota window has ended.
//
// A Clock is immutable and safe for concurrent use. It keeps running after
// the server is closed.
type Clock struct {
	start     time.Time     // simulated instant at wallStart, no monotonic reading
	wallStart time.Time     // wall instant, with monotonic reading
	minute    time.Duration // wall duration of one simulated minute
}

func newClock(start time.Time, minute time.Duration) *Clock {
	return NewClock(start, time.Now(), minute)
}

// NewClock returns the simulated clock that read sim at the wall instant
// wall and runs one simulated minute every minute of wall time: a
// [Server]'s clock rebuilt in another process of a test from one reading of
// it (its Clock().Now() and time.Now() taken together), so that the
// processes tell the same simulated time. It panics if minute is not
// positive.
func NewClock(sim, wall time.Time, minute time.Duration) *Clock {
	if minute <= 0 {
		panic("jonglertest: NewClock with a minute that is not positive")
	}
	return &Clock{start: sim.Round(0), wallStart: wall, minute: minute}
}

// Now returns the current simulated time, in the location of [Config.Start].
func (c *Clock) Now() time.Time {
	return c.start.Add(c.ToSimulated(time.Since(c.wallStart)))
}

// Sleep pauses for d of simulated time, that is d·Minute/time.Minute of wall
// time, rounded up so that at least d of simulated time has passed when it
// returns nil. It returns ctx.Err() early if ctx is done first. A d of zero or
// less returns at once (with ctx.Err(), which is nil for a live context).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(c.ToWall(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ToWall converts a simulated duration to the wall duration it takes,
// rounding away from zero.
func (c *Clock) ToWall(simulated time.Duration) time.Duration {
	return scale(simulated, c.minute, time.Minute, true)
}

// ToSimulated converts a wall duration to the simulated duration that passes
// meanwhile, rounding toward zero.
func (c *Clock) ToSimulated(wall time.Duration) time.Duration {
	return scale(wall, time.Minute, c.minute, false)
}

// scale returns d·num/den computed in 128 bits, saturating at the limits of
// time.Duration. num and den must be positive.
func scale(d, num, den time.Duration, roundUp bool) time.Duration {
	neg := d < 0
	a := uint64(d)
	if neg {
		a = uint64(-(d + 1)) + 1 // |d| without overflow for math.MinInt64
	}
	hi, lo := bits.Mul64(a, uint64(num))
	if hi >= uint64(den) {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(den))
	if roundUp && r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		q = math.MaxInt64
	}
	if neg {
		return -time.Duration(q)
	}
	return time.Duration(q)
}
