//go:build !unix

package filestore

import "context"

// Without shared mappings there is no counter table: budgets are counted
// in state.json, as stores without counters do.
type counterTable struct{}

// openCounterTable returns a table that counts nothing, without an error
// (nothing to warn about): its spends answer ErrNoCounterRoom.
func openCounterTable(string) (*counterTable, error) { return &counterTable{}, nil }

func (t *counterTable) close() error { return nil }

func (t *counterTable) spend(context.Context, int, []Counter) ([]int, bool, error) {
	return nil, false, ErrNoCounterRoom
}

// counterTables: this system has counter tables (off Unix budgets count
// in state.json, which is nothing to warn about).
const counterTables = false
