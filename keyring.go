package jongler

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// keyring leases a connector's keys from a Store: it knows which keys may
// serve a model now, waits for one when all are busy, and records what the
// policy decided about a key.
type keyring struct {
	connector string
	keys      []Key
	store     Store
	slots     int
	clock     Clock
	logger    *slog.Logger
	maxWait   time.Duration

	mu       sync.Mutex
	released chan struct{} // closed and replaced when a lease of this process ends
}

func newKeyring(connector string, keys []Key, store Store, slots int, clock Clock, logger *slog.Logger, maxWait time.Duration) *keyring {
	return &keyring{
		connector: connector, keys: keys, store: store, slots: max(slots, 1),
		clock: clock, logger: logger, maxWait: maxWait,
		released: make(chan struct{}),
	}
}

// leased is a lease with the key it grants.
type leased struct {
	Lease
	key  Key
	ring *keyring
	once sync.Once
}

// release gives the lease back and wakes this process's waiters.
func (l *leased) release() {
	l.once.Do(func() {
		if err := l.Lease.Release(); err != nil {
			l.ring.logger.Warn("jongler: release lease", "connector", l.ring.connector, "key", l.key.Name, "err", err)
		}
		l.ring.mu.Lock()
		close(l.ring.released)
		l.ring.released = make(chan struct{})
		l.ring.mu.Unlock()
	})
}

func (r *keyring) key(name string) (Key, bool) {
	i := slices.IndexFunc(r.keys, func(k Key) bool { return k.Name == name })
	if i < 0 {
		return Key{}, false
	}
	return r.keys[i], true
}

// usable lists the keys not in tried that may serve model at now, and
// when the earliest held-back one comes back (zero if none will).
func (r *keyring) usable(st State, now time.Time, model string, tried []string) (names []string, back time.Time, untried int) {
	for _, k := range r.keys {
		if slices.Contains(tried, k.Name) {
			continue
		}
		untried++
		blocked, until := false, time.Time{}
		for _, rec := range st.Records {
			if rec.Key != k.Name || !rec.activeAt(now, model) {
				continue
			}
			blocked = true
			if rec.State == StateError {
				until = time.Time{}
				break
			}
			until = maxTime(until, rec.Until)
		}
		if !blocked && now.Before(st.Backoff) {
			blocked, until = true, st.Backoff
		}
		if !blocked {
			names = append(names, k.Name)
			continue
		}
		if !until.IsZero() && (back.IsZero() || until.Before(back)) {
			back = until
		}
	}
	return names, back, untried
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lease returns a lease on a key, not in tried, that may serve model. It
// waits while every such key is in flight, and while all are cooling down
// if the first comes back within maxWait and the context's deadline. It
// returns errAllTried when tried holds every key, and a *NoKeyError when
// every untried key is held back longer.
func (r *keyring) lease(ctx context.Context, model string, tried []string) (*leased, error) {
	poll := time.Millisecond
	for {
		now := r.clock.Now()
		st, err := r.store.Load(ctx, r.connector)
		if err != nil {
			return nil, err
		}
		names, back, untried := r.usable(st, now, model, tried)
		if untried == 0 {
			return nil, errAllTried
		}
		if len(names) == 0 {
			if back.IsZero() || !r.mayWaitUntil(ctx, now, back) {
				e := &NoKeyError{Connector: r.connector, Model: model}
				if !back.IsZero() {
					e.RetryAfter = back.Sub(now)
				}
				return nil, e
			}
			r.logger.Debug("jongler: waiting for a key to cool down", "connector", r.connector, "for", back.Sub(now))
			if err := r.clock.Sleep(ctx, back.Sub(now)); err != nil {
				return nil, err
			}
			continue
		}
		r.mu.Lock()
		wake := r.released
		r.mu.Unlock()
		l, err := r.store.Acquire(ctx, r.connector, names, r.slots)
		if err != nil {
			return nil, err
		}
		if l != nil {
			k, _ := r.key(l.Key())
			r.logger.Debug("jongler: key leased", "connector", r.connector, "key", k.Name)
			return &leased{Lease: l, key: k, ring: r}, nil
		}
		// Every usable key is in flight: wait for a release here, or poll
		// for one in another process.
		t := time.NewTimer(poll + rand.N(poll))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
		poll = min(poll*2, 20*time.Millisecond)
	}
}

// mayWaitUntil reports whether a request may wait for a key back at back.
func (r *keyring) mayWaitUntil(ctx context.Context, now, back time.Time) bool {
	if r.maxWait < 0 {
		return false
	}
	if back.Sub(now) <= r.maxWait {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && back.Before(dl)
}

// apply records a policy's verdict on key k.
func (r *keyring) apply(ctx context.Context, k Key, v Verdict) error {
	now := r.clock.Now()
	var err error
	switch v.Action {
	case Lockdown:
		names := []string{k.Name}
		if v.Project {
			names = r.projectKeys(k.Project)
		}
		err = r.store.Update(ctx, r.connector, func(st *State) error {
			st.prune(now)
			for _, n := range names {
				st.setRecord(Record{Key: n, State: StateLockdown, Model: v.Model, Until: v.Until, Reason: v.Reason})
			}
			return nil
		})
		r.logger.Info("jongler: key in lockdown", "connector", r.connector, "keys", names, "model", v.Model,
			"until", v.Until.Format(time.RFC3339Nano), "for", v.Until.Sub(now).Round(time.Millisecond), "reason", v.Reason)
	case Disable:
		err = r.store.Update(ctx, r.connector, func(st *State) error {
			st.prune(now)
			st.setRecord(Record{Key: k.Name, State: StateError, Model: v.Model, Reason: v.Reason})
			return nil
		})
		r.logger.Info("jongler: key in error", "connector", r.connector, "key", k.Name, "model", v.Model, "reason", v.Reason)
	case Throttle:
		global := false
		var names []string
		err = r.store.Update(ctx, r.connector, func(st *State) error {
			st.prune(now)
			global = st.noteThrottle(k.Project, now)
			if global {
				st.Backoff = maxTime(st.Backoff, v.Until)
				return nil
			}
			names = r.projectKeys(k.Project)
			for _, n := range names {
				st.setRecord(Record{Key: n, State: StateLockdown, Until: v.Until, Reason: v.Reason})
			}
			return nil
		})
		if global {
			r.logger.Info("jongler: upstream throttles the caller, not a key: every key held back", "connector", r.connector,
				"until", v.Until.Format(time.RFC3339Nano), "reason", v.Reason)
		} else {
			r.logger.Info("jongler: key in lockdown", "connector", r.connector, "keys", names,
				"until", v.Until.Format(time.RFC3339Nano), "for", v.Until.Sub(now).Round(time.Millisecond), "reason", v.Reason)
		}
	}
	return err
}

// projectKeys names the keys of project.
func (r *keyring) projectKeys(project string) []string {
	var names []string
	for _, k := range r.keys {
		if k.Project == project {
			names = append(names, k.Name)
		}
	}
	return names
}

// states returns a snapshot of the keys.
func (r *keyring) states(ctx context.Context) (KeyStates, error) {
	st, err := r.store.Load(ctx, r.connector)
	if err != nil {
		return KeyStates{}, err
	}
	names := make([]string, len(r.keys))
	for i, k := range r.keys {
		names[i] = k.Name
	}
	inFlight, err := r.store.InFlight(ctx, r.connector, names, r.slots)
	if err != nil {
		return KeyStates{}, err
	}
	return buildKeyStates(r.keys, st, inFlight, r.clock.Now()), nil
}
