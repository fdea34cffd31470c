package quota

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// Counter names a count of requests in one window, and the most it may
// reach, as the transport's BudgetCounter.
type Counter struct {
	Name       string    // the kind of window, project and model: "minute/p/m"
	Start, End time.Time // the window counted
	Limit      int       // the most the count may reach; 0: no limit
}

// CounterType is a store's counter type: a struct of Counter's fields,
// converted to and from Counter.
type CounterType interface {
	~struct {
		Name       string
		Start, End time.Time
		Limit      int
	}
}

// Store keeps budget counters apart from the state, as the transport's
// BudgetStore does (see its SpendBudget).
type Store[C CounterType] interface {
	SpendBudget(ctx context.Context, connector string, n int, counters []C) (counts []int, ok bool, err error)
}

// ErrNoCounterRoom is a store's answer when it has no room for a counter,
// or cannot use its counters: the Book then counts in the state, as it
// does without a store.
var ErrNoCounterRoom = errors.New("jongler: no room for a budget counter")

// series is the counter names of a project's budget for a model, made
// once, and what this process learned of them: counts only grow within a
// window, so a budget found spent stays spent until its window ends,
// whatever other processes do.
type series struct {
	minute, day string // counter names

	spentUntil  time.Time // a spend was refused: spent until then
	spentLimits [2]int    // with these limits (minute, day)
}

type seriesKey struct{ project, model string }

// seriesOf returns the series of project for model.
func (b *Book[C]) seriesOf(project, model string) *series {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seriesLocked(project, model)
}

// seriesLocked is seriesOf, with b.mu held.
func (b *Book[C]) seriesLocked(project, model string) *series {
	s := b.series[seriesKey{project, model}]
	if s == nil {
		if b.series == nil || len(b.series) > 1<<16 {
			b.series = map[seriesKey]*series{}
		}
		p, m := url.PathEscape(project), url.PathEscape(model)
		s = &series{minute: "minute/" + p + "/" + m, day: "day/" + p + "/" + m}
		b.series[seriesKey{project, model}] = s
	}
	return s
}

// counters returns the counters of bud for project and model in windows
// w, each limit lowered by what the state counts (learned quotas mark a
// window spent there; a store whose table is full counts there too).
// blocked is set, with until, if the state alone spends it.
func (b *Book[C]) counters(st *state.State, s *series, bud Budget, project, model string, w Windows) (cs []C, blocked bool, until time.Time) {
	cs = make([]C, 0, 2)
	if bud.PerDay > 0 {
		left := bud.PerDay - b.count(st, project, model, "day", w.DayStart)
		if left <= 0 {
			return nil, true, w.DayEnd
		}
		cs = append(cs, C(Counter{Name: s.day, Start: w.DayStart, End: w.DayEnd, Limit: left}))
	}
	if bud.PerMinute > 0 {
		left := bud.PerMinute - b.count(st, project, model, "minute", w.MinStart)
		if left <= 0 {
			return nil, true, w.MinEnd
		}
		cs = append(cs, C(Counter{Name: s.minute, Start: w.MinStart, End: w.MinEnd, Limit: left}))
	}
	return cs, false, time.Time{}
}

// spendCounters spends one request of project's budget bud for model in
// the store. It reports whether the budget is spent (nothing was counted
// then); until when is kept in the series (see locallySpent).
func (b *Book[C]) spendCounters(ctx context.Context, st *state.State, bud Budget, project, model string, now time.Time) (spent bool, err error) {
	limits := [2]int{bud.PerMinute, bud.PerDay}
	b.mu.Lock() // one lock for the series and what is known of it
	s := b.seriesLocked(project, model)
	spent = now.Before(s.spentUntil) && s.spentLimits == limits
	b.mu.Unlock()
	if spent {
		return true, nil
	}
	w := b.windows(now)
	cs, blocked, until := b.counters(st, s, bud, project, model, w)
	if !blocked && len(cs) == 0 {
		return false, nil // no limit
	}
	if !blocked {
		counts, ok, err := b.cfg.Store.SpendBudget(ctx, b.cfg.Connector, 1, cs)
		switch {
		case errors.Is(err, ErrNoCounterRoom):
			return b.spendInState(ctx, cs, s, w, bud, project, model)
		case err != nil:
			return false, err
		case ok:
			return false, nil
		}
		until = Counter(cs[len(cs)-1]).End
		for i, c := range cs { // the day's first, as blockedIn does
			if c := Counter(c); i < len(counts) && c.Limit > 0 && counts[i] >= c.Limit {
				until = c.End
				break
			}
		}
	}
	b.mu.Lock()
	s.spentUntil, s.spentLimits = until, limits
	b.mu.Unlock()
	b.marks.Add(1) // the lists of usable keys leave it out now
	return true, nil
}

// locallySpent reports whether this process found project's budget for
// model spent, with the limits it has now, and until when.
func (b *Book[C]) locallySpent(st *state.State, project, model string, now time.Time) (bool, time.Time) {
	var until time.Time
	var limits [2]int
	b.mu.Lock()
	if s := b.series[seriesKey{project, model}]; s != nil {
		until, limits = s.spentUntil, s.spentLimits
	}
	b.mu.Unlock()
	if !now.Before(until) { // never found spent: until is zero
		return false, time.Time{}
	}
	if bud, ok := b.Budget(st, project, model); !ok || [2]int{bud.PerMinute, bud.PerDay} != limits {
		return false, time.Time{}
	}
	return true, until
}

// spendInState counts the request in the state, as without a store, for a
// store that has no room for cs: what it counts already (read first, so
// not atomically with the update) lowers the budget. It reports whether
// the budget is spent.
func (b *Book[C]) spendInState(ctx context.Context, cs []C, s *series, w Windows, bud Budget, project, model string) (bool, error) {
	if counts, _, err := b.cfg.Store.SpendBudget(ctx, b.cfg.Connector, 0, cs); err == nil && len(counts) == len(cs) {
		for i, c := range cs {
			switch name := Counter(c).Name; {
			case name == s.day && bud.PerDay > 0:
				if bud.PerDay -= counts[i]; bud.PerDay <= 0 {
					return true, nil
				}
			case name != s.day && bud.PerMinute > 0:
				if bud.PerMinute -= counts[i]; bud.PerMinute <= 0 {
					return true, nil
				}
			}
		}
	} else if err != nil && !errors.Is(err, ErrNoCounterRoom) {
		return false, err
	}
	err := b.cfg.Update(ctx, func(st *state.State) error { return b.spendIn(st, bud, project, model, w) })
	if errors.Is(err, errSpent) {
		return true, nil
	}
	return false, err
}

// storeCounts is stateCounts plus the store's counts, read in one call for
// every project with a budget for model.
func (b *Book[C]) storeCounts(ctx context.Context, st *state.State, model string, w Windows) (Counts, error) {
	c := stateCounts(st, model, w)
	var (
		cs    []C
		owner []string // project of each counter
		isDay []bool
	)
	for _, p := range b.cfg.Projects {
		bud, ok := b.Budget(st, p, model)
		if !ok {
			continue
		}
		s := b.seriesOf(p, model)
		if bud.PerDay > 0 {
			cs = append(cs, C(Counter{Name: s.day, Start: w.DayStart, End: w.DayEnd}))
			owner, isDay = append(owner, p), append(isDay, true)
		}
		if bud.PerMinute > 0 {
			cs = append(cs, C(Counter{Name: s.minute, Start: w.MinStart, End: w.MinEnd}))
			owner, isDay = append(owner, p), append(isDay, false)
		}
	}
	if len(cs) == 0 {
		return c, nil
	}
	counts, _, err := b.cfg.Store.SpendBudget(ctx, b.cfg.Connector, 0, cs)
	if errors.Is(err, ErrNoCounterRoom) {
		return c, nil // the counters cannot be read: the state's counts alone
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
