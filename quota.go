package jongler

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/api-jongler/jongler/internal/quota"
	"github.com/api-jongler/jongler/internal/state"
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
var errNoCounterRoom = quota.ErrNoCounterRoom

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

// learnedQuotas lists what st learned, sorted, for KeyStates.
func learnedQuotas(st *state.State) []LearnedQuota {
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

// newBook returns the quota book of a connector's keys: budgets, the
// quotas learned in the store's state, and store's counters if it is a
// BudgetStore.
func newBook(connector string, keys []Key, budgets []Budget, store Store, now func() time.Time,
	update func(context.Context, func(*state.State) error) error, logger *slog.Logger) *quota.Book[BudgetCounter] {
	cfg := quota.Config[BudgetCounter]{Connector: connector, Update: update, Now: now, Logger: logger}
	for _, b := range budgets {
		cfg.Budgets = append(cfg.Budgets, quota.Budget(b))
	}
	for _, k := range keys {
		if !slices.Contains(cfg.Projects, k.Project) {
			cfg.Projects = append(cfg.Projects, k.Project)
		}
	}
	if bs, ok := store.(BudgetStore); ok {
		cfg.Store = bs
	}
	return quota.New(cfg)
}
