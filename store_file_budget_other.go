//go:build !unix

package jongler

import "context"

// Without shared mappings there is no counter table: budgets are counted
// in state.json, as stores without counters do.
type counterTable struct{}

func openCounterTable(string) (*counterTable, error) { return nil, errNoCounterRoom }

func (t *counterTable) close() error { return nil }

func (t *counterTable) spend(context.Context, int, []BudgetCounter) ([]int, bool, error) {
	return nil, false, errNoCounterRoom
}
