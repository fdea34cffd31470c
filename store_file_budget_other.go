//go:build !unix

package jongler

import "context"

// Without shared mappings there is no counter table: budgets are counted
// in state.json, as stores without counters do.
type counterTable struct{}

// openCounterTable returns a table that counts nothing, without an error
// (nothing to warn about): its spends answer errNoCounterRoom.
func openCounterTable(string) (*counterTable, error) { return &counterTable{}, nil }

func (t *counterTable) close() error { return nil }

func (t *counterTable) spend(context.Context, int, []BudgetCounter) ([]int, bool, error) {
	return nil, false, errNoCounterRoom
}

// counterTables: this system has counter tables (off Unix budgets count
// in state.json, which is nothing to warn about).
const counterTables = false
