package jongler

import (
	"bytes"
	"context"
	"errors"
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
	budgets   []Budget
	tel       *telemetry // counts leases in flight; nil: not

	mu        sync.Mutex
	released  chan struct{} // closed and replaced when a lease of this process ends
	cache     stateCache
	unwritten unwritten
}

// stateCache holds the last state read from the store, decoded, and the
// bytes it was decoded from.
type stateCache struct {
	mu      sync.Mutex
	raw     []byte
	st      state
	damaged bool
}

// load returns the connector's state, decoding the store's bytes only when
// they changed. The state returned is shared: it must not be modified.
func (r *keyring) load(ctx context.Context) (state, error) {
	raw, err := r.store.Load(ctx, r.connector)
	if err != nil {
		return state{}, err
	}
	c := &r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if sameBytes(raw, c.raw) {
		return r.withUnwritten(c.st), nil
	}
	st, err := decodeState(raw)
	if err != nil {
		if !c.damaged {
			r.logger.Warn("jongler: damaged state read as empty; the next write replaces it", "connector", r.connector, "err", err)
		}
		st = state{}
	}
	st.dropStaleErrors(r.keys)
	c.raw, c.st, c.damaged = raw, st, err != nil
	return r.withUnwritten(st), nil
}

// sameBytes reports whether a and b hold the same bytes, looking first at
// whether they are the same slice, as a store that caches returns.
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	// Empty or absent state decodes alike.
	return len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b)
}

// update applies fn to the connector's state in the store.
func (r *keyring) update(ctx context.Context, fn func(*state) error) error {
	return updateState(ctx, r.store, r.connector, func(st *state) error {
		st.dropStaleErrors(r.keys)
		return fn(st)
	})
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
	ctx  context.Context // the request's, for the store's release
	once sync.Once
	stop func()          // ends the watch on the lease's loss; nil if none
	wctx context.Context // the context watch returned; nil if none
	end  leaseEnd        // how the lease ends once handed off with an answer (lease_body.go)
}

// lost reports whether the store lost the lease while its request ran.
func (l *leased) lost() bool {
	return l.wctx != nil && errors.Is(context.Cause(l.wctx), ErrLeaseLost)
}

// watch returns the context to send the request with: ctx, cancelled with
// cause ErrLeaseLost if the store loses the lease before it is released.
func (l *leased) watch(ctx context.Context) context.Context {
	lost := l.Lost()
	if lost == nil {
		return ctx
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-lost:
			cancel(ErrLeaseLost)
		case <-done:
		}
	}()
	l.stop = func() { close(done); cancel(nil) }
	l.wctx = wctx
	return wctx
}

// release gives the lease back and wakes this process's waiters.
func (l *leased) release() {
	l.once.Do(func() {
		if l.stop != nil {
			l.stop()
		}
		if err := l.Lease.Release(context.WithoutCancel(l.ctx)); err != nil {
			l.ring.logger.Warn("jongler: release lease", "connector", l.ring.connector, "key", l.key.Name, "err", err)
		}
		l.ring.tel.released(l.key.Name)
		l.ring.mu.Lock()
		close(l.ring.released)
		l.ring.released = make(chan struct{})
		l.ring.mu.Unlock()
	})
}

// releaseAfter gives the lease back after d, in which the key stays
// leased: its last request may still be in flight upstream.
func (l *leased) releaseAfter(d time.Duration) {
	time.AfterFunc(d, l.release)
}

func (r *keyring) key(name string) (Key, bool) {
	i := slices.IndexFunc(r.keys, func(k Key) bool { return k.Name == name })
	if i < 0 {
		return Key{}, false
	}
	return r.keys[i], true
}

// tried is a key a request was refused with, and until when the refusal
// holds for this request (zero: for good).
type tried struct {
	name  string
	until time.Time
}

// usable lists the keys that may serve model at now, and when the earliest
// held-back one comes back (zero if none will). A key a request was
// refused with stays out until its refusal ends, whatever the store says
// meanwhile; hopeful counts the keys that may yet serve the request.
func (r *keyring) usable(st state, now time.Time, model string, refused []tried) (names []string, back time.Time, hopeful int) {
	for _, k := range r.keys {
		blocked, until := false, time.Time{}
		if i := slices.IndexFunc(refused, func(t tried) bool { return t.name == k.Name }); i >= 0 {
			if refused[i].until.IsZero() {
				continue
			}
			if now.Before(refused[i].until) {
				blocked, until = true, refused[i].until
			}
		}
		hopeful++
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
		if blocked && until.IsZero() {
			hopeful-- // refused for good
			continue
		}
		if !blocked && now.Before(st.Backoff) {
			blocked, until = true, st.Backoff
		}
		if b, ok := budgetOf(r.budgets, &st, k.Project, model); ok && !blocked {
			blocked, until = st.budgetBlocked(b, k.Project, model, now)
		}
		if !blocked {
			names = append(names, k.Name)
			continue
		}
		if !until.IsZero() && (back.IsZero() || until.Before(back)) {
			back = until
		}
	}
	return names, back, hopeful
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lease returns a lease on a key that may serve model and that the request
// was not refused with (see usable). It waits while every such key is in
// flight, and while all are cooling down if the first comes back within
// maxWait or the context's deadline. Otherwise it returns a *NoKeyError,
// with RetryAfter zero when no key may ever serve the request.
func (r *keyring) lease(ctx context.Context, model string, refused []tried) (*leased, error) {
	poll := time.Millisecond
	for {
		st, err := r.load(ctx)
		if err != nil {
			return nil, err
		}
		now := r.now()
		names, back, hopeful := r.usable(st, now, model, refused)
		if hopeful == 0 {
			return nil, &NoKeyError{Connector: r.connector, Model: model}
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
			lease := &leased{Lease: l, key: k, ring: r, ctx: ctx}
			r.tel.leased(k.Name)
			// The lease's last holder may have put the key in lockdown
			// after the state was read: a holder records a verdict before
			// it releases, so reading again now tells.
			if st, err = r.load(ctx); err != nil {
				lease.release()
				return nil, err
			}
			if names, _, _ := r.usable(st, r.now(), model, refused); !slices.Contains(names, k.Name) {
				lease.release()
				continue
			}
			if _, ok := budgetOf(r.budgets, &st, k.Project, model); ok {
				err := r.update(ctx, func(st *state) error {
					if b, ok := budgetOf(r.budgets, st, k.Project, model); ok {
						return st.spend(b, k.Project, model, r.now())
					}
					return nil
				})
				if err != nil {
					lease.release()
					if errors.Is(err, errBudgetSpent) {
						continue // spent by another request meanwhile: look again
					}
					return nil, err
				}
			}
			r.logger.Debug("jongler: key leased", "connector", r.connector, "key", k.Name)
			return lease, nil
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

// mayWaitUntil reports whether a request may wait for a key back at back:
// never past its context's deadline, and only within maxWait unless the
// deadline leaves room for longer.
func (r *keyring) mayWaitUntil(ctx context.Context, now, back time.Time) bool {
	return mayWait(ctx, r.clock, r.maxWait, back.Sub(now))
}

// mayWait reports whether a wait of d on clock fits the bound maxWait
// (negative: no wait at all) and ctx's deadline, which alone may allow a
// longer wait. A deadline is wall time: it says something of the clock's
// time only when that is the real one.
func mayWait(ctx context.Context, clock Clock, maxWait, d time.Duration) bool {
	if maxWait < 0 {
		return false
	}
	dl, hasDeadline := ctx.Deadline()
	if _, real := clock.(realClock); !real {
		hasDeadline = false
	}
	if hasDeadline {
		return d < time.Until(dl)
	}
	return d <= maxWait
}

// apply records a policy's verdict on key k, in memory if the store
// cannot take it (see record).
func (r *keyring) apply(ctx context.Context, k Key, v Verdict) error {
	now := r.now()
	switch v.Action {
	case ActionLockdown:
		names := []string{k.Name}
		if v.Project {
			names = r.projectKeys(k.Project)
		}
		r.record(ctx, func(st *state) error {
			st.prune(now)
			for _, n := range names {
				st.setRecord(record{Key: n, State: StateLockdown, Model: v.Model, Until: v.Until, Reason: v.Reason})
			}
			return nil
		})
		r.logger.Info("jongler: key in lockdown", "connector", r.connector, "keys", names, "model", v.Model,
			"until", v.Until.Format(time.RFC3339Nano), "for", v.Until.Sub(now).Round(time.Millisecond), "reason", v.Reason)
	case ActionDisable:
		r.record(ctx, func(st *state) error {
			st.prune(now)
			st.setRecord(record{Key: k.Name, State: StateError, Model: v.Model, Reason: v.Reason, Fingerprint: st.fingerprint(k.Value)})
			return nil
		})
		r.logger.Info("jongler: key in error", "connector", r.connector, "key", k.Name, "model", v.Model, "reason", v.Reason)
	case ActionThrottle:
		global := false
		var names []string
		r.record(ctx, func(st *state) error {
			st.prune(now)
			global = st.noteThrottle(k.Project, now)
			if global {
				st.Backoff = maxTime(st.Backoff, v.Until)
				return nil
			}
			names = r.projectKeys(k.Project)
			for _, n := range names {
				st.setRecord(record{Key: n, State: StateLockdown, Until: v.Until, Reason: v.Reason})
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
	return nil
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
	st, err := r.load(ctx)
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
	ks := buildKeyStates(r.keys, st, inFlight, r.now())
	ks.Learned = learnedQuotas(&st)
	return ks, nil
}
