package jongler

import "time"

// A StoreClock is a [Store] that tells the time every process sharing it
// agrees on, such as a networked store reading its server's clock. When a
// Transport's store is one, every time the transport records or compares
// (cooldown ends, budget windows, throttles, the Now a [Policy] is given)
// is the store's, so processes whose clocks disagree still agree on when a
// cooldown ends; the transport's [Clock] only waits. A store that runs on
// simulated time takes the simulated clock itself.
//
// Now must be cheap (no round trip): the store estimates the shared time
// from what it last heard, and the error of that estimate is the window in
// which two processes may disagree.
type StoreClock interface {
	Store
	Now() time.Time
}

// now returns the time the keyring records and compares: its store's when
// the store tells one, else its clock's.
func (r *keyring) now() time.Time {
	if r.storeClock != nil {
		return r.storeClock.Now()
	}
	return r.clock.Now()
}
