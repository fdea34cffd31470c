package jongler

import (
	"context"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
)

// Headroom returns the earliest time at which a key may serve a request
// for model (the model as the upstream names it, "" for none): the
// present time or earlier when one may now, being neither cooling down
// nor refused, and its project's budget and learned quotas for model not
// spent; a later time when every key is held back until then; the zero
// time when none ever will (every key refused for good, or no keys). A
// connector that needs no key always has headroom. Keys in flight count
// as free: a request for one waits for it at most [WithMaxInFlight]'s
// turn. A router asks it to skip a spent upstream without sending to it.
func (t *Transport) Headroom(ctx context.Context, model string) (time.Time, error) {
	if t.ring == nil {
		if len(t.KeyNames()) == 0 && t.connector.RequiresAPIKey {
			return time.Time{}, nil
		}
		return t.clock.Now(), nil
	}
	r := t.ring
	st, err := r.load(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := r.now()
	c, budgeted, err := r.book.Counts(ctx, st, model, now)
	if err != nil {
		return time.Time{}, err
	}
	var counts *quota.Counts
	if budgeted {
		counts = &c
	}
	names, back, hopeful := r.usable(st, now, model, nil, counts)
	switch {
	case hopeful == 0:
		return time.Time{}, nil
	case len(names) > 0:
		return now, nil
	}
	return back, nil
}
