package jongler

import (
	"context"
	"errors"
	"net/url"
	"time"
)

// A BudgetStore is a [Store] that keeps budget counters apart from the
// connector's state, so that spending a [Budget] costs one small atomic
// step instead of a [Store.Update] of the whole state, whatever the
// number of keys. When a Transport's store is one, each request sent with
// a budgeted project's key spends one unit of its counters here; other
// stores count in the state, as before. [FileStore], [MemoryStore] and
// the Redis store of package redisstore are BudgetStores.
type BudgetStore interface {
	Store

	// SpendBudget adds n to every counter of connector named in counters
	// if each then stays within its Limit, all at once, as seen by every
	// process sharing the store; otherwise it adds nothing and reports
	// false. It returns the counts as they are after it, in the order of
	// counters. n = 0 reads the counts (and reports true).
	//
	// A count belongs to one window, Start to End, and starts at 0 in
	// each; a store may drop a count once its window ended. A store that
	// keeps one window per name may count a request for an earlier window
	// in the later one it holds: that counts more, never fewer.
	SpendBudget(ctx context.Context, connector string, n int, counters []BudgetCounter) (counts []int, ok bool, err error)
}

// BudgetCounter names a count of requests in one window, and the most it
// may reach.
type BudgetCounter struct {
	// Name is the counter's, the same in every window: its kind of
	// window, project and model ("minute/my-project/gemini-2.5-flash"),
	// never a key value.
	Name       string
	Start, End time.Time // the window counted
	Limit      int       // the most the count may reach; 0: no limit
}

// errNoCounterRoom is a FileStore's answer when its counter table has no
// room for a counter, or cannot be used: the keyring then counts in the
// state, as it does with stores that keep no counters.
var errNoCounterRoom = errors.New("jongler: no room for a budget counter")

// budgetSeries is the counter names of a project's budget for a model,
// made once, and what this process learned of them: counts only grow
// within a window, so a budget found spent stays spent until its window
// ends, whatever other processes do.
type budgetSeries struct {
	minute, day string // counter names

	spentUntil  time.Time // a spend was refused: spent until then
	spentLimits [2]int    // with these limits (minute, day)
}

type seriesKey struct{ project, model string }

// series returns the budget series of project for model.
func (r *keyring) series(project, model string) *budgetSeries {
	r.budgetMu.Lock()
	defer r.budgetMu.Unlock()
	return r.seriesLocked(project, model)
}

// seriesLocked is series, with r.budgetMu held.
func (r *keyring) seriesLocked(project, model string) *budgetSeries {
	s := r.budgetSeries[seriesKey{project, model}]
	if s == nil {
		if r.budgetSeries == nil || len(r.budgetSeries) > 1<<16 {
			r.budgetSeries = map[seriesKey]*budgetSeries{}
		}
		p, m := url.PathEscape(project), url.PathEscape(model)
		s = &budgetSeries{minute: "minute/" + p + "/" + m, day: "day/" + p + "/" + m}
		r.budgetSeries[seriesKey{project, model}] = s
	}
	return s
}

// budgetCounters returns the counters of b for project and model in
// windows w, each limit lowered by what the state counts (learned quotas
// mark a window spent there; a FileStore whose table is full counts there
// too). blocked is set, with until, if the state alone spends it.
func (r *keyring) budgetCounters(st *state, s *budgetSeries, b Budget, project, model string, w budgetWindow) (cs []BudgetCounter, blocked bool, until time.Time) {
	cs = make([]BudgetCounter, 0, 2)
	if b.PerDay > 0 {
		left := b.PerDay - r.usageCount(st, project, model, "day", w.dayStart)
		if left <= 0 {
			return nil, true, w.dayEnd
		}
		cs = append(cs, BudgetCounter{Name: s.day, Start: w.dayStart, End: w.dayEnd, Limit: left})
	}
	if b.PerMinute > 0 {
		left := b.PerMinute - r.usageCount(st, project, model, "minute", w.minStart)
		if left <= 0 {
			return nil, true, w.minEnd
		}
		cs = append(cs, BudgetCounter{Name: s.minute, Start: w.minStart, End: w.minEnd, Limit: left})
	}
	return cs, false, time.Time{}
}

// spendCounters spends one request of project's budget b for model in bs,
// the keyring's store. It reports whether the budget is spent (nothing
// was counted then); until when is kept in the series (see
// locallySpent).
func (r *keyring) spendCounters(ctx context.Context, bs BudgetStore, st *state, b Budget, project, model string, now time.Time) (spent bool, err error) {
	limits := [2]int{b.PerMinute, b.PerDay}
	r.budgetMu.Lock() // one lock for the series and what is known of it
	s := r.seriesLocked(project, model)
	spent = now.Before(s.spentUntil) && s.spentLimits == limits
	r.budgetMu.Unlock()
	if spent {
		return true, nil
	}
	w := r.windows(now)
	cs, blocked, until := r.budgetCounters(st, s, b, project, model, w)
	if !blocked && len(cs) == 0 {
		return false, nil // no limit
	}
	if !blocked {
		counts, ok, err := bs.SpendBudget(ctx, r.connector, 1, cs)
		switch {
		case errors.Is(err, errNoCounterRoom):
			return r.spendInState(ctx, bs, cs, s, w, b, project, model)
		case err != nil:
			return false, err
		case ok:
			return false, nil
		}
		until = cs[len(cs)-1].End
		for i, c := range cs { // the day's first, as budgetBlockedIn does
			if i < len(counts) && c.Limit > 0 && counts[i] >= c.Limit {
				until = c.End
				break
			}
		}
	}
	r.budgetMu.Lock()
	s.spentUntil, s.spentLimits = until, limits
	r.budgetMu.Unlock()
	r.budgetGen.Add(1) // the lists of usable keys leave it out now
	return true, nil
}

// locallySpent reports whether this process found project's budget for
// model spent, with the limits it has now, and until when.
func (r *keyring) locallySpent(st *state, project, model string, now time.Time) (bool, time.Time) {
	var until time.Time
	var limits [2]int
	r.budgetMu.Lock()
	if s := r.budgetSeries[seriesKey{project, model}]; s != nil {
		until, limits = s.spentUntil, s.spentLimits
	}
	r.budgetMu.Unlock()
	if !now.Before(until) { // never found spent: until is zero
		return false, time.Time{}
	}
	if b, ok := r.budgetOf(st, project, model); !ok || [2]int{b.PerMinute, b.PerDay} != limits {
		return false, time.Time{}
	}
	return true, until
}

// spendInState counts the request in the state, as stores without
// counters do, for a FileStore whose counter table has no room for cs:
// what the table counts already (read first, so not atomically with the
// update) lowers the budget. It reports whether the budget is spent.
func (r *keyring) spendInState(ctx context.Context, bs BudgetStore, cs []BudgetCounter, s *budgetSeries, w budgetWindow, b Budget, project, model string) (bool, error) {
	if counts, _, err := bs.SpendBudget(ctx, r.connector, 0, cs); err == nil && len(counts) == len(cs) {
		for i, c := range cs {
			switch {
			case c.Name == s.day && b.PerDay > 0:
				if b.PerDay -= counts[i]; b.PerDay <= 0 {
					return true, nil
				}
			case c.Name != s.day && b.PerMinute > 0:
				if b.PerMinute -= counts[i]; b.PerMinute <= 0 {
					return true, nil
				}
			}
		}
	} else if err != nil && !errors.Is(err, errNoCounterRoom) {
		return false, err
	}
	err := r.update(ctx, func(st *state) error { return st.spend(b, project, model, w) })
	if errors.Is(err, errBudgetSpent) {
		return true, nil
	}
	return false, err
}

// storeBudgetCounts is budgetCounts for a BudgetStore: the state's counts
// plus the store's, read in one call for every project of the keys with
// a budget for model. It is O(keys): it serves requests that found a
// budget spent.
func (r *keyring) storeBudgetCounts(ctx context.Context, bs BudgetStore, st *state, model string, w budgetWindow) (budgetCounts, error) {
	c := st.budgetCounts(model, w)
	var (
		cs    []BudgetCounter
		owner []string // project of each counter
		isDay []bool
		seen  = map[string]bool{}
	)
	for i := range r.keys {
		p := r.keys[i].Project
		if seen[p] {
			continue
		}
		seen[p] = true
		b, ok := r.budgetOf(st, p, model)
		if !ok {
			continue
		}
		s := r.series(p, model)
		if b.PerDay > 0 {
			cs = append(cs, BudgetCounter{Name: s.day, Start: w.dayStart, End: w.dayEnd})
			owner, isDay = append(owner, p), append(isDay, true)
		}
		if b.PerMinute > 0 {
			cs = append(cs, BudgetCounter{Name: s.minute, Start: w.minStart, End: w.minEnd})
			owner, isDay = append(owner, p), append(isDay, false)
		}
	}
	if len(cs) == 0 {
		return c, nil
	}
	counts, _, err := bs.SpendBudget(ctx, r.connector, 0, cs)
	if errors.Is(err, errNoCounterRoom) {
		return c, nil // the table cannot be read: the state's counts alone
	}
	if err != nil {
		return c, err
	}
	for i := range min(len(cs), len(counts)) {
		if isDay[i] {
			c.day[owner[i]] += counts[i]
		} else {
			c.minute[owner[i]] += counts[i]
		}
	}
	return c, nil
}

// budgetCountsAt returns the requests counted for model in the windows
// holding now: the state's, and a BudgetStore's counters.
func (r *keyring) budgetCountsAt(ctx context.Context, st *state, model string, now time.Time) (budgetCounts, error) {
	w := r.windows(now)
	if bs, ok := r.store.(BudgetStore); ok {
		return r.storeBudgetCounts(ctx, bs, st, model, w)
	}
	return st.budgetCounts(model, w), nil
}
