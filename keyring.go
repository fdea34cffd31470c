package jongler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

	index map[string]int // key name → index in keys

	// A release wakes this process's requests waiting for a key, if any:
	// releases counts releases, waiters the requests registered on wake,
	// which is closed and replaced only when some are.
	releases atomic.Uint64
	waiters  atomic.Int64
	mu       sync.Mutex
	wake     chan struct{}
	cache    stateCache
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
		return c.st, nil
	}
	st, err := decodeState(raw)
	if err != nil {
		if !c.damaged {
			r.logger.Warn("jongler: damaged state read as empty; the next write replaces it", "connector", r.connector, "err", err)
		}
		st = state{}
	}
	c.raw, c.st, c.damaged = raw, st, err != nil
	return st, nil
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
	return updateState(ctx, r.store, r.connector, fn)
}

func newKeyring(connector string, keys []Key, store Store, slots int, clock Clock, logger *slog.Logger, maxWait time.Duration) *keyring {
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k.Name] = i
	}
	return &keyring{
		connector: connector, keys: keys, store: store, slots: max(slots, 1),
		clock: clock, logger: logger, maxWait: maxWait, index: index,
		wake: make(chan struct{}),
	}
}

// leased is a lease with the key it grants. It is also the body of the
// answer sent with it (see Transport.send), which ends the lease when read
// to its end or closed: one object for both.
type leased struct {
	Lease
	key      *Key
	ring     *keyring
	released atomic.Bool
	rc       io.ReadCloser   // the answer's body, once there is one
	ctx      context.Context // the request's, for the store's release
	stop     func()          // ends the watch on the lease's loss; nil if none
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
	return wctx
}

// release gives the lease back and wakes this process's waiters.
func (l *leased) release() {
	if l.released.Swap(true) {
		return
	}
	if l.stop != nil {
		l.stop()
	}
	r := l.ring
	if err := l.Lease.Release(context.WithoutCancel(l.ctx)); err != nil {
		r.logger.Warn("jongler: release lease", "connector", r.connector, "key", l.key.Name, "err", err)
	}
	r.releases.Add(1)
	if r.waiters.Load() > 0 {
		r.mu.Lock()
		close(r.wake)
		r.wake = make(chan struct{})
		r.mu.Unlock()
	}
}

func (l *leased) Read(p []byte) (int, error) {
	n, err := l.rc.Read(p)
	if err == io.EOF {
		l.release()
	}
	return n, err
}

func (l *leased) Close() error {
	err := l.rc.Close()
	l.release()
	return err
}

func (r *keyring) key(name string) (*Key, bool) {
	i, ok := r.index[name]
	if !ok {
		return nil, false
	}
	return &r.keys[i], true
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
	b, budgeted := budgetFor(r.budgets, model)
	var win budgetWindow
	if budgeted {
		win = windowsAt(now)
	}
	for i := range r.keys {
		k := &r.keys[i]
		blocked, until, never := r.blocked(st, k, now, model, refused, b, budgeted, win)
		if never {
			continue
		}
		hopeful++
		if !blocked {
			names = append(names, k.Name)
			continue
		}
		if until.IsZero() {
			hopeful-- // refused for good
			continue
		}
		if back.IsZero() || until.Before(back) {
			back = until
		}
	}
	return names, back, hopeful
}

// blocked reports whether k may not serve model at now, and until when
// (zero: for good); never is set for a key the request was refused with
// for good.
func (r *keyring) blocked(st state, k *Key, now time.Time, model string, refused []tried, b Budget, budgeted bool, win budgetWindow) (blocked bool, until time.Time, never bool) {
	for _, t := range refused {
		if t.name != k.Name {
			continue
		}
		if t.until.IsZero() {
			return true, time.Time{}, true
		}
		if now.Before(t.until) {
			blocked, until = true, t.until
		}
		break
	}
	for _, rec := range st.Records {
		if rec.Key != k.Name || !rec.activeAt(now, model) {
			continue
		}
		blocked = true
		if rec.State == StateError {
			return true, time.Time{}, false
		}
		until = maxTime(until, rec.Until)
	}
	if !blocked && now.Before(st.Backoff) {
		blocked, until = true, st.Backoff
	}
	if budgeted && !blocked {
		blocked, until = st.budgetBlockedIn(b, k.Project, model, win)
	}
	return blocked, until, false
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
		now := r.clock.Now()
		st, err := r.load(ctx)
		if err != nil {
			return nil, err
		}
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
			if r.logger.Enabled(ctx, slog.LevelDebug) {
				r.logger.Debug("jongler: waiting for a key to cool down", "connector", r.connector, "for", back.Sub(now))
			}
			if err := r.clock.Sleep(ctx, back.Sub(now)); err != nil {
				return nil, err
			}
			continue
		}
		seen := r.releases.Load()
		l, err := r.store.Acquire(ctx, r.connector, names, r.slots)
		if err != nil {
			return nil, err
		}
		if l != nil {
			k, ok := r.key(l.Key())
			if !ok {
				l.Release(context.WithoutCancel(ctx))
				return nil, fmt.Errorf("jongler: store leased key %q, which is not among the keys asked for", l.Key())
			}
			lease := &leased{Lease: l, key: k, ring: r, ctx: ctx}
			// The lease's last holder may have put the key in lockdown
			// after the state was read: a holder records a verdict before
			// it releases, so reading again now tells.
			if st, err = r.load(ctx); err != nil {
				lease.release()
				return nil, err
			}
			now := r.clock.Now()
			b, budgeted := budgetFor(r.budgets, model)
			var win budgetWindow
			if budgeted {
				win = windowsAt(now)
			}
			if blocked, _, _ := r.blocked(st, k, now, model, refused, b, budgeted, win); blocked {
				lease.release()
				continue
			}
			if b, ok := budgetFor(r.budgets, model); ok {
				err := r.update(ctx, func(st *state) error {
					return st.spend(b, k.Project, model, r.clock.Now())
				})
				if err != nil {
					lease.release()
					if errors.Is(err, errBudgetSpent) {
						continue // spent by another request meanwhile: look again
					}
					return nil, err
				}
			}
			if r.logger.Enabled(ctx, slog.LevelDebug) {
				r.logger.Debug("jongler: key leased", "connector", r.connector, "key", k.Name)
			}
			return lease, nil
		}
		// Every usable key is in flight: wait for a release here, or poll
		// for one in another process.
		if err := r.waitRelease(ctx, seen, poll+rand.N(poll)); err != nil {
			return nil, err
		}
		poll = min(poll*2, 20*time.Millisecond)
	}
}

// waitRelease waits for a release of this process's leases after the
// count seen, for at most d, or for ctx to end.
func (r *keyring) waitRelease(ctx context.Context, seen uint64, d time.Duration) error {
	r.waiters.Add(1)
	defer r.waiters.Add(-1)
	r.mu.Lock()
	wake := r.wake
	r.mu.Unlock()
	if r.releases.Load() != seen {
		return nil // released since the store was asked: ask again
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
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

// apply records a policy's verdict on key k.
func (r *keyring) apply(ctx context.Context, k *Key, v Verdict) error {
	now := r.clock.Now()
	var err error
	switch v.Action {
	case ActionLockdown:
		names := []string{k.Name}
		if v.Project {
			names = r.projectKeys(k.Project)
		}
		err = r.update(ctx, func(st *state) error {
			st.prune(now)
			for _, n := range names {
				st.setRecord(record{Key: n, State: StateLockdown, Model: v.Model, Until: v.Until, Reason: v.Reason})
			}
			return nil
		})
		r.logger.Info("jongler: key in lockdown", "connector", r.connector, "keys", names, "model", v.Model,
			"until", v.Until.Format(time.RFC3339Nano), "for", v.Until.Sub(now).Round(time.Millisecond), "reason", v.Reason)
	case ActionDisable:
		err = r.update(ctx, func(st *state) error {
			st.prune(now)
			st.setRecord(record{Key: k.Name, State: StateError, Model: v.Model, Reason: v.Reason})
			return nil
		})
		r.logger.Info("jongler: key in error", "connector", r.connector, "key", k.Name, "model", v.Model, "reason", v.Reason)
	case ActionThrottle:
		global := false
		var names []string
		err = r.update(ctx, func(st *state) error {
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
	return buildKeyStates(r.keys, st, inFlight, r.clock.Now()), nil
}
