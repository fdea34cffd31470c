package quota

import (
	"context"
	"slices"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// Use is a project's budget for a model and what is used of it in the
// windows holding now.
type Use struct {
	Project, Model    string
	PerMinute, PerDay int // the budget, learned limits included; 0: none
	Minute, Day       int // requests counted in the current windows
}

// Usage returns the use of every budget that applies to a project of the
// connector for a model named by a budget or a learned quota ("*" budgets
// only for the models the state counts requests of), sorted by project
// and model. It reads the store's counters when there is a store.
func (b *Book[C]) Usage(ctx context.Context, st *state.State, now time.Time) ([]Use, error) {
	var models []string
	add := func(m string) {
		if m != "" && m != "*" && !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	for _, bud := range b.cfg.Budgets {
		add(bud.Model)
	}
	for _, l := range st.Learned {
		add(l.Model)
	}
	if slices.ContainsFunc(b.cfg.Budgets, func(bud Budget) bool { return bud.Model == "*" }) {
		for _, u := range st.Usage {
			add(u.Model)
		}
	}
	slices.Sort(models)
	var out []Use
	for _, m := range models {
		c, ok, err := b.Counts(ctx, st, m, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, p := range b.cfg.Projects {
			bud, ok := b.Budget(st, p, m)
			if !ok || (bud.PerMinute == 0 && bud.PerDay == 0) {
				continue
			}
			out = append(out, Use{Project: p, Model: m, PerMinute: bud.PerMinute, PerDay: bud.PerDay, Minute: c.minute[p], Day: c.day[p]})
		}
	}
	slices.SortStableFunc(out, func(a, b Use) int {
		if a.Project != b.Project {
			if a.Project < b.Project {
				return -1
			}
			return 1
		}
		return 0
	})
	return out, nil
}
