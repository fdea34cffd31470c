package jongler

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
	"github.com/api-jongler/jongler/internal/reqinfo"
	"github.com/api-jongler/jongler/internal/state"
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
	tel       *telemetry // counts leases in flight; nil: not
	// storeClock is store, if it tells the time (see now).
	storeClock StoreClock
	// book keeps the budgets and learned quotas, and spends them.
	book *quota.Book[BudgetCounter]

	index    map[string]int                   // key name → index in keys
	keyValue func(name string) (string, bool) // a key's value by name (see state.Upgrade)
	id       *identity                        // the keys' fingerprints (see ident.go)

	// A release wakes one of this process's requests waiting for a key,
	// if any (keyring_wait.go); releases counts releases.
	releases atomic.Uint64
	waits    waitQueue
	// cache holds the state last read or written, decoded; lists, for
	// requests not refused yet, the keys that may serve each model, kept
	// while neither the records nor the clock say otherwise, so that a
	// lease costs the same with 8 keys or 1,000.
	cache  state.Cache
	listMu sync.Mutex
	lists  map[string]*usableList
	// unwritten holds the verdicts the store could not take (see write).
	unwritten state.Unwritten

	rests pendingRests // leases kept after their request, given back soon
	group *groupView   // the keys' part of a LeaseGroup; nil if none
}

// pendingRests counts the leases kept for a while after their request was
// given up on (releaseAfter), so that Transport.Close can wait for them to
// be given back rather than leave them to look like a dead holder's. Rests
// are counted by generation: Close waits for those begun before it only,
// which all end within the rest, however many more requests are given up
// meanwhile.
type pendingRests struct {
	mu  sync.Mutex
	cur *restGen
}

// restGen is one generation of rests.
type restGen struct {
	n    int
	idle chan struct{} // closed when n falls to 0 after the generation ended
	old  bool          // a later generation has begun
}

// add counts a rest begun, and returns its generation for done.
func (p *pendingRests) add() *restGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		p.cur = &restGen{idle: make(chan struct{})}
	}
	p.cur.n++
	return p.cur
}

// done counts a rest of generation g ended.
func (p *pendingRests) done(g *restGen) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g.n--; g.n == 0 && g.old {
		close(g.idle)
	}
}

// wait returns when the rests begun before it have ended.
func (p *pendingRests) wait() {
	p.mu.Lock()
	g := p.cur
	p.cur = nil // later rests: a new generation
	if g == nil {
		p.mu.Unlock()
		return
	}
	g.old = true
	if g.n == 0 {
		close(g.idle)
	}
	p.mu.Unlock()
	<-g.idle
}

// listGen tells the records a usableList was made from: the generation of
// the cached records and of those kept in memory, unwritten.
type listGen struct {
	rec uint64
	unw int
}

// usableList is what usable found for a model, leaving budgets aside.
type usableList struct {
	gen      listGen
	marks    uint64    // the book's Marks when made
	from, to time.Time // it holds for now in [from, to)
	names    []string
	back     time.Time
	hopeful  int
}

// load returns the connector's state, decoding the store's bytes only when
// they changed. The state returned is shared: it must not be modified.
func (r *keyring) load(ctx context.Context) (*state.State, error) {
	st, _, err := r.loadGen(ctx)
	return st, err
}

// loadGen is load, with the generation of the state's records.
func (r *keyring) loadGen(ctx context.Context) (*state.State, listGen, error) {
	raw, err := r.store.Load(ctx, r.connector)
	if err != nil {
		return nil, listGen{}, err
	}
	st, gen, damaged := r.cache.Load(raw, r.keyValue, r.id.fpr)
	if damaged != nil {
		r.logger.Warn("jongler: damaged state read as empty; the next write replaces it", "connector", r.connector, "err", damaged)
	}
	out, unw := r.unwritten.Over(st)
	return out, listGen{gen, unw}, nil
}

// update applies fn to the connector's state in the store. The state fn
// gets is the cached one (a copy) when the store's bytes are those cached,
// and what fn made is cached with the bytes written, so that neither this
// update nor the next load decodes anything.
func (r *keyring) update(ctx context.Context, fn func(*state.State) error) error {
	var (
		out   []byte
		outSt state.State
	)
	err := r.store.Update(ctx, r.connector, func(cur []byte) ([]byte, error) {
		st := r.cache.Draft(cur, r.keyValue, r.id.fpr)
		if err := fn(&st); err != nil {
			return nil, err
		}
		b, err := state.Encode(&st)
		out, outSt = b, st
		return b, err
	})
	if err == nil && out != nil {
		r.cache.Written(out, &outSt)
	}
	return err
}

// write applies fn to the connector's state in the store and, if the
// store cannot be written, to the state kept in memory instead (see
// state.Unwritten). It warns once per condition and reports nothing to
// the caller: the verdict holds either way.
func (r *keyring) write(ctx context.Context, fn func(*state.State) error) {
	mem, gen := r.unwritten.Pending()
	err := r.update(ctx, func(st *state.State) error {
		st.Fold(mem)
		return fn(st)
	})
	if err == nil {
		if r.unwritten.Written(gen) {
			r.logger.Info("jongler: key states are written again", "connector", r.connector)
		}
		return
	}
	if ctx.Err() != nil {
		r.unwritten.Keep(fn, nil)
		r.logger.Debug("jongler: key state kept in memory: the request ended before it was written", "connector", r.connector, "err", err)
		return
	}
	if r.unwritten.Keep(fn, err) {
		r.logger.Warn("jongler: cannot write key states; this process keeps them in memory and honours them until a write succeeds (other processes do not see them)",
			"connector", r.connector, "err", err)
	}
}

func newKeyring(connector string, keys []Key, budgets []Budget, store Store, slots int, clock Clock, logger *slog.Logger, maxWait time.Duration) *keyring {
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k.Name] = i
	}
	sc, _ := store.(StoreClock)
	r := &keyring{
		storeClock: sc,
		connector:  connector, keys: keys, store: store, slots: max(slots, 1),
		clock: clock, logger: logger, maxWait: maxWait, index: index,
	}
	r.keyValue = func(name string) (string, bool) {
		k, ok := r.key(name)
		return k.Value, ok
	}
	secret, shared := fingerprintSecret(store, logger)
	r.id = newIdentity(keys, secret, shared)
	r.book = newBook(connector, keys, budgets, store, r.now, r.update, logger)
	return r
}

func (r *keyring) key(name string) (Key, bool) {
	i, ok := r.index[name]
	if !ok {
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
// Budgets are looked at if counts, the requests counted for model, is
// not nil.
//
// With or without counts, the budgets this process found spent hold their
// keys back (see quota.Book.Blocked): requests then go to the keys whose
// budgets are left, without trying the others one by one.
func (r *keyring) usable(st *state.State, now time.Time, model string, refused []tried, counts *quota.Counts) (names []string, back time.Time, hopeful int) {
	for i := range r.keys {
		k := &r.keys[i]
		blocked, until, never := r.blocked(st, k, now, model, refused)
		if never {
			continue
		}
		if !blocked {
			blocked, until = r.book.Blocked(st, counts, k.Project, model, now)
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

// usableCached is usable for a request not refused yet, budgets left
// aside: computed once per model for as long as the records (gen) and
// the clock leave it as it is.
func (r *keyring) usableCached(st *state.State, gen listGen, now time.Time, model string) ([]string, time.Time, int) {
	r.listMu.Lock()
	l := r.lists[model]
	r.listMu.Unlock()
	marks := r.book.Marks()
	if l != nil && l.gen == gen && l.marks == marks && !now.Before(l.from) && now.Before(l.to) {
		return l.names, l.back, l.hopeful
	}
	l = &usableList{gen: gen, marks: marks, from: now, to: now.Add(time.Hour)}
	l.names, l.back, l.hopeful = r.usable(st, now, model, nil, nil)
	// It changes when the first key held back comes back (a budget's
	// window ends, say).
	if !l.back.IsZero() && l.back.Before(l.to) {
		l.to = l.back
	}
	// The list changes when a lockdown or the backoff ends.
	for _, rec := range st.Records {
		if rec.State == state.Lockdown && now.Before(rec.Until) && rec.Until.Before(l.to) {
			l.to = rec.Until
		}
	}
	if now.Before(st.Backoff) && st.Backoff.Before(l.to) {
		l.to = st.Backoff
	}
	r.listMu.Lock()
	if r.lists == nil || len(r.lists) > 64 {
		r.lists = map[string]*usableList{}
	}
	r.lists[model] = l
	r.listMu.Unlock()
	return l.names, l.back, l.hopeful
}

// blocked reports whether k's records (or the backoff) hold it back from
// serving model at now, and until when (zero: for good); never is set for
// a key the request was refused with for good. Budgets are the book's.
func (r *keyring) blocked(st *state.State, k *Key, now time.Time, model string, refused []tried) (blocked bool, until time.Time, never bool) {
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
		if rec.Key != k.Name || !rec.ActiveAt(now, model) || !r.holds(&rec, k) {
			continue
		}
		blocked = true
		if rec.State == state.Error {
			return true, time.Time{}, false
		}
		until = maxTime(until, rec.Until)
	}
	if !blocked && now.Before(st.Backoff) {
		blocked, until = true, st.Backoff
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
	// Budgets are checked for the key leased; the list of keys asked for
	// leaves them aside, until a key leased turns out to have spent its
	// budget.
	full := false
	// woken: the last wait ended with a release's wake, passed on hops
	// times before.
	var (
		woken bool
		hops  int
	)
	if err := r.claim(ctx); err != nil {
		return nil, err
	}
	for {
		st, gen, err := r.loadGen(ctx)
		if err != nil {
			return nil, err
		}
		now := r.now()
		var (
			names   []string
			back    time.Time
			hopeful int
		)
		if len(refused) == 0 && !full {
			names, back, hopeful = r.usableCached(st, gen, now, model)
		} else {
			c, budgeted, err := r.book.Counts(ctx, st, model, now)
			if err != nil {
				return nil, err
			}
			var counts *quota.Counts
			if budgeted {
				counts = &c
			}
			names, back, hopeful = r.usable(st, now, model, refused, counts)
		}
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
		l, err := r.acquire(ctx, names) // the store's, within the lease group if any
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
			r.tel.leased(k.Name)
			// The lease's last holder may have put the key in lockdown
			// after the state was read: a holder records a verdict before
			// it releases, so reading again now tells. Records that did
			// not change since the list was made say nothing new; budgets
			// are not in the list, and are spent below.
			st2, gen2, err := r.loadGen(ctx)
			if err != nil {
				lease.release()
				return nil, err
			}
			if gen2 != gen || len(refused) > 0 || full {
				if blocked, _, _ := r.blocked(st2, &k, r.now(), model, refused); blocked {
					lease.release()
					full = true
					continue
				}
			}
			if b, budgeted := r.book.Budget(st2, k.Project, model); budgeted {
				spent, err := r.book.Spend(ctx, st2, b, k.Project, model)
				if err != nil {
					lease.release()
					return nil, err
				}
				if spent {
					lease.release()
					full = true
					continue // spent, here or in another process: look again
				}
			}
			if r.logger.Enabled(ctx, slog.LevelDebug) {
				r.logger.Debug("jongler: key leased", "connector", r.connector, "key", k.Name)
			}
			return lease, nil
		}
		// Every usable key is in flight: wait for a release here, or poll
		// for one in another process.
		if woken {
			// Woken for a key this request could not take: the next
			// waiter may.
			r.waits.wakeOne(hops + 1)
		}
		if hops, woken, err = r.waitRelease(ctx, seen, poll+rand.N(poll)); err != nil {
			return nil, err
		}
		poll = min(poll*2, 20*time.Millisecond)
	}
}

// mayWaitUntil reports whether a request may wait for a key back at back:
// never past its context's deadline, and only within maxWait unless the
// deadline leaves room for longer.
func (r *keyring) mayWaitUntil(ctx context.Context, now, back time.Time) bool {
	if reqinfo.FromContext(ctx).WaitsNot() {
		return false
	}
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

// record records what a policy's verdict on an answer sent with key k
// says: its action on the key (lockdown, refusal, throttle); the request
// quota the answer states, learned for the key's project and the
// verdict's model; and an accepting verdict's Until, if it has one in the
// future, as a lockdown: the answer goes back to the caller and the key
// rests until the limit its rate-limit headers say is spent resets.
func (r *keyring) record(ctx context.Context, k *Key, v *Verdict) {
	if v.Action != ActionAccept && v.Action != ActionRetry {
		r.apply(ctx, *k, *v)
	}
	if v.learn.Limit > 0 && v.Model != "" {
		r.learn(ctx, k.Project, v.Model, v.learn)
	}
	if v.Action == ActionAccept && !v.Until.IsZero() && v.Until.After(r.now()) {
		lock := *v
		lock.Action = ActionLockdown
		r.apply(ctx, *k, lock)
	}
}

// learn records quota f, stated by an answer, for project and model.
// Apart from record, so that what it captures is allocated only when
// there is a quota to learn.
func (r *keyring) learn(ctx context.Context, project, model string, f quota.Fact) {
	if err := r.book.Learn(ctx, project, model, f); err != nil {
		r.logger.Warn("jongler: could not record a learned quota", "connector", r.connector, "err", err)
		return
	}
	r.logger.Info("jongler: quota learned", "connector", r.connector, "project", project, "model", model,
		"window", f.Window, "limit", f.Limit, "from", f.From)
}

// apply records a verdict's action on key k, in memory if the store
// cannot take it (see write).
func (r *keyring) apply(ctx context.Context, k Key, v Verdict) {
	now := r.now()
	switch v.Action {
	case ActionLockdown:
		names := []string{k.Name}
		if v.Project {
			names = r.projectKeys(k.Project)
		}
		r.write(ctx, func(st *state.State) error {
			prune(st, now)
			for _, n := range names {
				st.SetRecord(r.forValue(state.Record{Key: n, State: state.Lockdown, Model: v.Model, Until: v.Until, Reason: v.Reason}))
			}
			return nil
		})
		r.logger.Info("jongler: key in lockdown", "connector", r.connector, "keys", names, "model", v.Model,
			"until", v.Until.Format(time.RFC3339Nano), "for", v.Until.Sub(now).Round(time.Millisecond), "reason", v.Reason)
	case ActionDisable:
		r.write(ctx, func(st *state.State) error {
			prune(st, now)
			st.SetRecord(r.forValue(state.Record{Key: k.Name, State: state.Error, Model: v.Model, Reason: v.Reason}))
			return nil
		})
		r.logger.Warn("jongler: key in error", "connector", r.connector, "key", k.Name, "model", v.Model, "reason", v.Reason)
	case ActionThrottle:
		global := false
		var names []string
		r.write(ctx, func(st *state.State) error {
			prune(st, now)
			global = st.NoteThrottle(k.Project, now)
			if global {
				st.Backoff = maxTime(st.Backoff, v.Until)
				return nil
			}
			names = r.projectKeys(k.Project)
			for _, n := range names {
				st.SetRecord(r.forValue(state.Record{Key: n, State: state.Lockdown, Until: v.Until, Reason: v.Reason}))
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
}

// prune drops what ended before now: lockdowns, and the request counts of
// windows past (with a BudgetStore nothing else drops them).
func prune(st *state.State, now time.Time) {
	st.PruneRecords(now)
	quota.PruneUsage(st, now)
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
	ks := buildKeyStates(r.keys, st, inFlight, r.now(), r.holds)
	ks.Learned = learnedQuotas(st)
	uses, err := r.book.Usage(ctx, st, r.now())
	if err != nil {
		return KeyStates{}, err
	}
	for _, u := range uses {
		ks.Budgets = append(ks.Budgets, BudgetUse(u))
	}
	return ks, nil
}

// now returns the time the keyring records and compares: its store's when
// the store tells one, else its clock's.
func (r *keyring) now() time.Time {
	if r.storeClock != nil {
		return r.storeClock.Now()
	}
	return r.clock.Now()
}
