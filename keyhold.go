package jongler

import (
	"context"
	"fmt"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// ResetKey clears every lockdown and error record of the key called name
// (for every model), in every process sharing the transport's store: the
// key is vacant again at once, and a hold set by [Transport.HoldKey] ends.
// The other keys' records, the backoff and the learned quotas stay (see
// [Transport.Cleanup] for the whole connector). Requests in flight keep
// their keys. An unknown name is an error.
func (t *Transport) ResetKey(ctx context.Context, name string) error {
	if _, err := t.keyNamed(name); err != nil {
		return err
	}
	return t.ring.update(ctx, func(st *state.State) error {
		kept := st.Records[:0]
		for _, r := range st.Records {
			if r.Key != name {
				kept = append(kept, r)
			}
		}
		st.Records = kept
		return nil
	})
}

// HoldKey keeps the key called name from being leased for d, for every
// model, in every process sharing the transport's store (maintenance: a
// key being rotated, a project being moved). The hold is a lockdown with
// reason; [Transport.KeyStates] shows it as such, and it ends by itself
// after d or at once with [Transport.ResetKey]. A hold never shortens a
// lockdown already longer, and a key refused for good stays so. Requests
// in flight keep their keys. An unknown name, or d not positive, is an
// error.
func (t *Transport) HoldKey(ctx context.Context, name string, d time.Duration, reason string) error {
	if _, err := t.keyNamed(name); err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("jongler: hold of key %q for %s: want a positive duration", name, d)
	}
	r := t.ring
	now := r.now()
	until := now.Add(d)
	return r.update(ctx, func(st *state.State) error {
		prune(st, now)
		rec := r.forValue(state.Record{Key: name, State: state.Lockdown, Until: until, Reason: reason})
		for _, old := range st.Records {
			if old.Key == name && old.Model == "" && old.Fingerprint == rec.Fingerprint && old.SecretID == rec.SecretID &&
				old.State == state.Lockdown && old.Until.After(until) {
				return nil // a longer lockdown holds it already
			}
		}
		st.SetRecord(rec)
		return nil
	})
}

// keyNamed returns the transport's key called name.
func (t *Transport) keyNamed(name string) (Key, error) {
	if t.ring != nil {
		if k, ok := t.ring.key(name); ok {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("jongler: %s has no key named %q", t.connector.Name, name)
}
