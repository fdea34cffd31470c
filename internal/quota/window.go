package quota

import (
	"errors"
	"time"

	"github.com/api-jongler/jongler/internal/state"
	"github.com/api-jongler/jongler/internal/upstream"
)

// Windows is the minute and day windows holding an instant: minute windows
// start on the clock's minute, day windows at midnight in
// America/Los_Angeles, as Google's daily quotas do.
type Windows struct {
	MinStart, MinEnd, DayStart, DayEnd time.Time
}

// WindowsAt returns the windows holding now.
func WindowsAt(now time.Time) Windows {
	minStart := now.Truncate(time.Minute)
	return Windows{
		MinStart: minStart,
		MinEnd:   minStart.Add(time.Minute),
		// Not the midnight after now-24h: in the first hour after a
		// 23-hour day, that is the start of the day before.
		DayStart: upstream.PacificDayStart(now),
		DayEnd:   upstream.NextPacificMidnight(now),
	}
}

// windows returns the windows holding now, computed again only when now
// leaves the cached minute (day windows start and end on a minute:
// Pacific time is a whole number of hours off UTC).
func (b *Book[C]) windows(now time.Time) Windows {
	b.winMu.Lock()
	defer b.winMu.Unlock()
	if w := b.win; !now.Before(w.MinStart) && now.Before(w.MinEnd) {
		return w
	}
	b.win = WindowsAt(now)
	return b.win
}

// PruneUsage drops from st the counts of windows that ended before now
// (with a BudgetStore, nothing else drops them).
func PruneUsage(st *state.State, now time.Time) {
	if len(st.Usage) > 0 {
		dropPastUsage(st, now)
	}
}

// dropPastUsage drops the counts of windows that ended before now, and
// returns the windows holding now.
func dropPastUsage(st *state.State, now time.Time) Windows {
	w := WindowsAt(now)
	st.DropUsageBefore(w.MinStart, w.DayStart)
	return w
}

// Counts is the requests counted for one model in the current windows, by
// project: one pass over the usage for every key.
type Counts struct {
	w           Windows
	minute, day map[string]int
}

// stateCounts returns the requests st counts for model in the windows w.
func stateCounts(st *state.State, model string, w Windows) Counts {
	c := Counts{w: w, minute: map[string]int{}, day: map[string]int{}}
	for _, u := range st.Usage {
		if u.Model != model {
			continue
		}
		// The first count of a window is the one spend adds to.
		switch {
		case u.Window == "minute" && u.Start.Equal(w.MinStart):
			if _, ok := c.minute[u.Project]; !ok {
				c.minute[u.Project] = u.Count
			}
		case u.Window == "day" && u.Start.Equal(w.DayStart):
			if _, ok := c.day[u.Project]; !ok {
				c.day[u.Project] = u.Count
			}
		}
	}
	return c
}

// blocked is blockedIn, from the counts.
func (c *Counts) blocked(b Budget, project string) (bool, time.Time) {
	if b.PerDay > 0 && c.day[project] >= b.PerDay {
		return true, c.w.DayEnd
	}
	if b.PerMinute > 0 && c.minute[project] >= b.PerMinute {
		return true, c.w.MinEnd
	}
	return false, time.Time{}
}

// blockedIn reports whether project's budget b for model is spent in st's
// counts of the windows w, and until when.
func blockedIn(st *state.State, b Budget, project, model string, w Windows) (bool, time.Time) {
	if b.PerDay > 0 && st.Count(project, model, "day", w.DayStart) >= b.PerDay {
		return true, w.DayEnd
	}
	if b.PerMinute > 0 && st.Count(project, model, "minute", w.MinStart) >= b.PerMinute {
		return true, w.MinEnd
	}
	return false, time.Time{}
}

// errSpent means another process spent the budget first.
var errSpent = errors.New("jongler: budget spent")

// spendIn counts one request of project for model in st's windows win,
// failing with errSpent when the budget b cannot take it. Windows past
// are dropped, and the oldest counts past MaxUsage.
func (bk *Book[C]) spendIn(st *state.State, b Budget, project, model string, win Windows) error {
	if blocked, _ := blockedIn(st, b, project, model, win); blocked {
		return errSpent
	}
	addIn(st, b, project, model, win)
	bk.capUsage(st)
	return nil
}

// addIn counts one request of project for model in st's windows win that
// budget b counts, whatever their counts. Windows past are dropped.
func addIn(st *state.State, b Budget, project, model string, win Windows) {
	st.DropUsageBefore(win.MinStart, win.DayStart)
	for _, w := range []struct {
		name  string
		start time.Time
		limit int
	}{{"minute", win.MinStart, b.PerMinute}, {"day", win.DayStart, b.PerDay}} {
		if w.limit == 0 {
			continue
		}
		i := 0
		for ; i < len(st.Usage); i++ {
			u := &st.Usage[i]
			if u.Project == project && u.Model == model && u.Window == w.name && u.Start.Equal(w.start) {
				u.Count++
				break
			}
		}
		if i == len(st.Usage) {
			st.Usage = append(st.Usage, state.Usage{Project: project, Model: model, Window: w.name, Start: w.start, Count: 1})
		}
	}
}
