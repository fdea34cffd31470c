package jongler

import (
	"errors"
	"time"

	"github.com/api-jongler/jongler/internal/upstream"
)

// Budget is a project's known request quota for a model: a key is not sent
// a request its project's budget cannot take, so the upstream's 429 is
// never needed. Counts are kept in the [Store], shared by every process
// (in its counters, if it is a [BudgetStore]: one small step per request);
// minute windows start on the clock's minute, day windows at midnight in
// America/Los_Angeles, as Google's daily quotas do. Zero means no limit.
type Budget struct {
	// Model is the model the budget applies to; "*" applies to every model
	// without a budget of its own, each counted apart.
	Model     string
	PerMinute int // requests per minute window; 0: no limit
	PerDay    int // requests per day window; 0: no limit
}

// WithBudgets sets the request budgets per model, replacing those of the
// INI file.
func WithBudgets(b ...Budget) Option {
	return func(o *options) { o.budgets, o.budgetsSet = append([]Budget(nil), b...), true }
}

// budgetFor returns the budget for model, if any.
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

// budgetWindow is the minute and day windows holding an instant.
type budgetWindow struct {
	minStart, minEnd, dayStart, dayEnd time.Time
}

// windowsAt returns the windows holding now.
func windowsAt(now time.Time) budgetWindow {
	minStart := now.Truncate(time.Minute)
	return budgetWindow{
		minStart: minStart,
		minEnd:   minStart.Add(time.Minute),
		// Not the midnight after now-24h: in the first hour after a
		// 23-hour day, that is the start of the day before.
		dayStart: upstream.PacificDayStart(now),
		dayEnd:   upstream.NextPacificMidnight(now),
	}
}

// usageCount returns the count of (project, model, window, start).
func (s *state) usageCount(project, model, window string, start time.Time) int {
	for _, u := range s.Usage {
		if u.Project == project && u.Model == model && u.Window == window && u.Start.Equal(start) {
			return u.Count
		}
	}
	return 0
}

// budgetCounts is the requests counted for one model in the current
// windows, by project: one pass over the usage for every key.
type budgetCounts struct {
	w           budgetWindow
	minute, day map[string]int
}

func (s *state) budgetCounts(model string, w budgetWindow) budgetCounts {
	c := budgetCounts{w: w, minute: map[string]int{}, day: map[string]int{}}
	for _, u := range s.Usage {
		if u.Model != model {
			continue
		}
		// The first count of a window is the one spend adds to.
		switch {
		case u.Window == "minute" && u.Start.Equal(w.minStart):
			if _, ok := c.minute[u.Project]; !ok {
				c.minute[u.Project] = u.Count
			}
		case u.Window == "day" && u.Start.Equal(w.dayStart):
			if _, ok := c.day[u.Project]; !ok {
				c.day[u.Project] = u.Count
			}
		}
	}
	return c
}

// blocked is budgetBlockedIn, from the counts.
func (c budgetCounts) blocked(b Budget, project string) (bool, time.Time) {
	if b.PerDay > 0 && c.day[project] >= b.PerDay {
		return true, c.w.dayEnd
	}
	if b.PerMinute > 0 && c.minute[project] >= b.PerMinute {
		return true, c.w.minEnd
	}
	return false, time.Time{}
}

// budgetBlockedIn reports whether project's budget for model is spent in
// the windows w, and until when.
func (s *state) budgetBlockedIn(b Budget, project, model string, w budgetWindow) (bool, time.Time) {
	if b.PerDay > 0 && s.usageCount(project, model, "day", w.dayStart) >= b.PerDay {
		return true, w.dayEnd
	}
	if b.PerMinute > 0 && s.usageCount(project, model, "minute", w.minStart) >= b.PerMinute {
		return true, w.minEnd
	}
	return false, time.Time{}
}

// dropPastUsage drops the counts of windows that ended before now, and
// returns the windows holding now.
func (s *state) dropPastUsage(now time.Time) budgetWindow {
	w := windowsAt(now)
	s.dropUsageBefore(w)
	return w
}

// dropUsageBefore drops the counts of windows that ended before w.
func (s *state) dropUsageBefore(w budgetWindow) {
	kept := s.Usage[:0]
	for _, u := range s.Usage {
		if u.Window == "minute" && u.Start.Before(w.minStart) || u.Window == "day" && u.Start.Before(w.dayStart) {
			continue
		}
		kept = append(kept, u)
	}
	s.Usage = kept
}

// errBudgetSpent means another process spent the budget first.
var errBudgetSpent = errors.New("jongler: budget spent")

// spend counts one request of project for model in the windows win,
// failing with errBudgetSpent when the budget cannot take it. Windows
// past are dropped.
func (s *state) spend(b Budget, project, model string, win budgetWindow) error {
	if blocked, _ := s.budgetBlockedIn(b, project, model, win); blocked {
		return errBudgetSpent
	}
	s.dropUsageBefore(win)
	for _, w := range []struct {
		name  string
		start time.Time
		limit int
	}{{"minute", win.minStart, b.PerMinute}, {"day", win.dayStart, b.PerDay}} {
		if w.limit == 0 {
			continue
		}
		i := 0
		for ; i < len(s.Usage); i++ {
			u := &s.Usage[i]
			if u.Project == project && u.Model == model && u.Window == w.name && u.Start.Equal(w.start) {
				u.Count++
				break
			}
		}
		if i == len(s.Usage) {
			s.Usage = append(s.Usage, usage{Project: project, Model: model, Window: w.name, Start: w.start, Count: 1})
		}
	}
	return nil
}
