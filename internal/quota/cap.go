package quota

import (
	"slices"
	"time"

	"github.com/api-jongler/jongler/internal/state"
	"github.com/api-jongler/jongler/internal/upstream"
)

// MaxUsage is the most request counts the state keeps (with stores that
// keep no counters, or no room for one): past it, the counts of the
// windows that end first are dropped, once warned of, and those windows
// may be overspent. Without it, every model name a client sends under a
// "*" budget would add counts to the state, which every budgeted request
// then rewrites whole.
const MaxUsage = 4096

// capUsage drops st's counts past MaxUsage, those of the windows that end
// first, warning once.
func (b *Book[C]) capUsage(st *state.State) {
	over := len(st.Usage) - MaxUsage
	if over <= 0 {
		return
	}
	end := func(u state.Usage) time.Time {
		if u.Window == "minute" {
			return u.Start.Add(time.Minute)
		}
		return upstream.NextPacificMidnight(u.Start)
	}
	order := make([]int, len(st.Usage))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return end(st.Usage[i]).Compare(end(st.Usage[j])) })
	drop := make(map[int]bool, over)
	for _, i := range order[:over] {
		drop[i] = true
	}
	kept := st.Usage[:0:0]
	for i, u := range st.Usage {
		if !drop[i] {
			kept = append(kept, u)
		}
	}
	st.Usage = kept
	if b.capWarned.CompareAndSwap(false, true) && b.cfg.Logger != nil {
		b.cfg.Logger.Warn("jongler: the state counts more budget windows than it keeps; the counts of those ending first are dropped, and their budgets may be overspent",
			"connector", b.cfg.Connector, "max", MaxUsage)
	}
}
