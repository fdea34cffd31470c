// Package quota keeps a connector's request quotas: the budgets configured
// per model, the quotas learned from refusals (Gemini's QuotaFailure names
// the quota and its value), each spent per project in minute and day
// windows, in a BudgetStore's counters or in the saved state.
//
// A Book is the one entry point: the keyring asks it whether a project's
// key may serve a model now (Budget, Blocked, Counts), spends a request
// against it (Spend), and tells it what an answer taught (Learn). The
// limits an answer's rate-limit headers state rest the project's keys as
// a lockdown, recorded with the key states.
package quota

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// Budget is a project's request quota for a model, as the transport's
// Budget: Model "*" applies to every model without a budget of its own;
// zero means no limit.
type Budget struct {
	Model     string
	PerMinute int // requests per minute window; 0: no limit
	PerDay    int // requests per day window; 0: no limit
}

// Fact is a request quota an answer states, to be learned: its window
// ("minute" or "day"), value and name. The zero value states nothing.
type Fact struct {
	Window string
	Limit  int
	From   string // the quota's name, e.g. "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
}

// Config is what a Book is made of. C is the store's counter type.
type Config[C CounterType] struct {
	// Connector names the connector in the store.
	Connector string
	// Budgets are the configured budgets.
	Budgets []Budget
	// Projects lists the projects of the connector's keys, each once.
	Projects []string
	// Store keeps budget counters apart from the state; nil: requests
	// are counted in the state.
	Store Store[C]
	// Update applies fn to the connector's state in the store.
	Update func(ctx context.Context, fn func(*state.State) error) error
	// Now tells the time windows are counted in.
	Now func() time.Time
	// Logger is told, once, when the state's counts reach MaxUsage;
	// nil: nobody is.
	Logger *slog.Logger
}

// Book is a connector's budgets, learned quotas included, and what this
// process found of them. C is the store's counter type: the transport's
// BudgetCounter, so that its BudgetStore is asked as it is. A Book is
// safe for concurrent use.
type Book[C CounterType] struct {
	cfg Config[C]

	mu     sync.Mutex
	series map[seriesKey]*series // see seriesLocked
	marks  atomic.Uint64         // counts the budgets found spent
	index  atomic.Pointer[index] // see indexOf

	winMu sync.Mutex
	win   Windows // the windows last computed

	capWarned    atomic.Bool // the state's counts reached MaxUsage
	modelsWarned atomic.Bool // a day's models reached MaxModels
}

// New returns the Book of cfg.
func New[C CounterType](cfg Config[C]) *Book[C] {
	return &Book[C]{cfg: cfg}
}

// Budget returns the budget of project's requests for model: the
// configured one, lowered to what was learned for the project. ok is
// false when none applies.
func (b *Book[C]) Budget(st *state.State, project, model string) (Budget, bool) {
	if len(st.Learned) <= indexAfter {
		return budgetOf(b.cfg.Budgets, st, project, model)
	}
	bud, ok := budgetFor(b.cfg.Budgets, model)
	v, found := b.indexOf(st).limits[seriesKey{project, model}]
	if !found || v == [2]int{} {
		return bud, ok
	}
	if v[0] > 0 && (bud.PerMinute == 0 || v[0] < bud.PerMinute) {
		bud.PerMinute = v[0]
	}
	if v[1] > 0 && (bud.PerDay == 0 || v[1] < bud.PerDay) {
		bud.PerDay = v[1]
	}
	bud.Model = model
	return bud, true
}

// Blocked reports whether project's budget for model holds its keys back
// at now, and until when: spent by counts, the requests counted for model
// (nil: not looked at), or found spent by this process (see Spend). Found
// spent here holds even where the counts now say otherwise (lost: a
// table truncated, a Redis restarted, a counter expired by a clock
// ahead): the spend would be refused, and the lease taken again and
// again.
func (b *Book[C]) Blocked(st *state.State, counts *Counts, project, model string, now time.Time) (bool, time.Time) {
	if counts != nil {
		if bud, ok := b.Budget(st, project, model); ok {
			if blocked, until := counts.blocked(bud, project); blocked {
				return true, until
			}
		}
	}
	if b.marks.Load() > 0 {
		name, _ := b.countedAs(st, model, b.windows(now).DayStart)
		return b.locallySpent(st, project, name, now)
	}
	return false, time.Time{}
}

// Marks counts the budgets this process found spent: a list of the keys
// that may serve, made before it last changed, may hold one whose budget
// is spent.
func (b *Book[C]) Marks() uint64 { return b.marks.Load() }

// Counts returns the requests counted for model in the windows holding
// now, by project: the state's, and the store's counters. ok is false
// when no budget may apply (none configured, none learned). It is
// O(projects): it serves requests that found a budget spent.
func (b *Book[C]) Counts(ctx context.Context, st *state.State, model string, now time.Time) (c Counts, ok bool, err error) {
	if len(b.cfg.Budgets) == 0 && len(st.Learned) == 0 {
		return Counts{}, false, nil
	}
	w := b.windows(now)
	model, _ = b.countedAs(st, model, w.DayStart)
	if b.cfg.Store != nil {
		c, err = b.storeCounts(ctx, st, model, w)
		return c, true, err
	}
	return stateCounts(st, model, w), true, nil
}

// Spend counts a request of project for model against its budget bud,
// found in st: in the store's counters if there is a store, else in the
// state. It reports whether the budget was spent, here or in another
// process: nothing was counted then.
func (b *Book[C]) Spend(ctx context.Context, st *state.State, bud Budget, project, model string) (spent bool, err error) {
	now := b.cfg.Now()
	name, err := b.counted(ctx, st, model, b.windows(now).DayStart)
	if err != nil {
		return false, err
	}
	if b.cfg.Store != nil {
		return b.spendCounters(ctx, st, bud, project, name, now)
	}
	if blocked, _ := blockedIn(st, bud, project, name, b.windows(now)); blocked {
		return true, nil
	}
	err = b.cfg.Update(ctx, func(cur *state.State) error {
		if bud, ok := budgetOf(b.cfg.Budgets, cur, project, model); ok {
			return b.spendIn(cur, bud, project, name, WindowsAt(now))
		}
		return nil
	})
	if errors.Is(err, errSpent) {
		return true, nil
	}
	return false, err
}

// Learn records quota f, stated by an answer, for project and model.
func (b *Book[C]) Learn(ctx context.Context, project, model string, f Fact) error {
	now := b.cfg.Now()
	return b.cfg.Update(ctx, func(st *state.State) error {
		learn(st, project, model, f, now)
		b.capUsage(st)
		return nil
	})
}

// learn records quota f of project for model, stated by an answer at now,
// replacing what was learned of the same window, and counts the window
// now running as used up: the refusal says it is.
func learn(st *state.State, project, model string, f Fact, now time.Time) {
	if f.Limit <= 0 || model == "" || (f.Window != "minute" && f.Window != "day") {
		return
	}
	l := state.Learned{Project: project, Model: model, Window: f.Window, Limit: f.Limit, At: now, From: f.From}
	i := slices.IndexFunc(st.Learned, func(o state.Learned) bool {
		return o.Project == project && o.Model == model && o.Window == f.Window
	})
	if i < 0 {
		st.Learned = append(st.Learned, l)
	} else {
		st.Learned[i] = l
	}
	w := dropPastUsage(st, now)
	start := w.MinStart
	if f.Window == "day" {
		start = w.DayStart
	}
	for i := range st.Usage {
		u := &st.Usage[i]
		if u.Project == project && u.Model == model && u.Window == f.Window && u.Start.Equal(start) {
			u.Count = max(u.Count, f.Limit)
			return
		}
	}
	st.Usage = append(st.Usage, state.Usage{Project: project, Model: model, Window: f.Window, Start: start, Count: f.Limit})
}

// budgetFor returns the configured budget for model, if any.
func budgetFor(budgets []Budget, model string) (Budget, bool) {
	var star *Budget
	for i, b := range budgets {
		if b.Model == model {
			return b, true
		}
		if b.Model == "*" {
			star = &budgets[i]
		}
	}
	if star != nil {
		return *star, true
	}
	return Budget{}, false
}

// budgetOf returns the budget of project's requests for model: the
// configured one, lowered to what st learned for the project.
func budgetOf(configured []Budget, st *state.State, project, model string) (Budget, bool) {
	b, ok := budgetFor(configured, model)
	for _, l := range st.Learned {
		if l.Project != project || l.Model != model || l.Limit <= 0 {
			continue
		}
		switch l.Window {
		case "minute":
			if b.PerMinute == 0 || l.Limit < b.PerMinute {
				b.PerMinute = l.Limit
			}
		case "day":
			if b.PerDay == 0 || l.Limit < b.PerDay {
				b.PerDay = l.Limit
			}
		default:
			continue
		}
		b.Model, ok = model, true
	}
	return b, ok
}
