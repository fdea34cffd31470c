package jongler

import (
	"cmp"
	"slices"
	"time"
)

// LearnedQuota is a request quota the transport learned from an upstream's
// refusal (Gemini's QuotaFailure names the quota and gives its value), kept
// in the [Store] so that every process spends it as a [Budget] is spent: a
// project's keys are sent no more requests for the model in a window than
// the quota allows, so the quota's 429 comes once, not once per window. A
// configured budget below it wins; a later refusal giving another value
// replaces it.
type LearnedQuota struct {
	Project string    // the project whose keys share the quota
	Model   string    // the model it counts
	Window  string    // "minute" or "day"
	Limit   int       // requests per window
	At      time.Time // when it was learned
	From    string    // the quota that said so, e.g. "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
}

// learned is a LearnedQuota as the store keeps it.
type learned struct {
	Project string    `json:"project"`
	Model   string    `json:"model"`
	Window  string    `json:"window"`
	Limit   int       `json:"limit"`
	At      time.Time `json:"at"`
	From    string    `json:"from,omitempty"`
}

// quotaFact is a request quota an answer states, for the transport to
// learn: its window ("minute" or "day"), value and name. The zero value
// states nothing.
type quotaFact struct {
	window string
	limit  int
	from   string
}

// budgetOf returns the budget of project's requests for model: the
// configured one, lowered to what was learned for the project.
func budgetOf(configured []Budget, st *state, project, model string) (Budget, bool) {
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

// learn records quota q of project for model, stated by an answer at now,
// replacing what was learned of the same window, and counts the window
// now running as used up: the refusal says it is.
func (s *state) learn(project, model string, q quotaFact, now time.Time) {
	if q.limit <= 0 || model == "" || (q.window != "minute" && q.window != "day") {
		return
	}
	l := learned{Project: project, Model: model, Window: q.window, Limit: q.limit, At: now, From: q.from}
	i := slices.IndexFunc(s.Learned, func(o learned) bool {
		return o.Project == project && o.Model == model && o.Window == q.window
	})
	if i < 0 {
		s.Learned = append(s.Learned, l)
	} else {
		s.Learned[i] = l
	}
	w := s.dropPastUsage(now)
	start := w.minStart
	if q.window == "day" {
		start = w.dayStart
	}
	for i := range s.Usage {
		u := &s.Usage[i]
		if u.Project == project && u.Model == model && u.Window == q.window && u.Start.Equal(start) {
			u.Count = max(u.Count, q.limit)
			return
		}
	}
	s.Usage = append(s.Usage, usage{Project: project, Model: model, Window: q.window, Start: start, Count: q.limit})
}

// learnedQuotas lists what st learned, sorted, for KeyStates.
func learnedQuotas(st *state) []LearnedQuota {
	out := make([]LearnedQuota, 0, len(st.Learned))
	for _, l := range st.Learned {
		out = append(out, LearnedQuota(l))
	}
	slices.SortFunc(out, func(a, b LearnedQuota) int {
		return cmp.Or(cmp.Compare(a.Project, b.Project), cmp.Compare(a.Model, b.Model), cmp.Compare(b.Window, a.Window))
	})
	if len(out) == 0 {
		return nil
	}
	return out
}
