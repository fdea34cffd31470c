package jongler

import (
	"context"
	"fmt"
)

// SpendBudget implements [BudgetStore]: the counters live in
// DIR/CONNECTOR/budget.table, mapped in memory by every process and
// guarded by a flock. When the table has no room for a counter or
// cannot be had, the transport counts in state.json instead.
func (s *FileStore) SpendBudget(ctx context.Context, connector string, n int, counters []BudgetCounter) ([]int, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	fc, err := s.connector(connector)
	if err != nil {
		return nil, false, err
	}
	t, err := fc.counterTable()
	if err != nil {
		return nil, false, err
	}
	return t.spend(ctx, n, counters)
}

// counterTable returns the connector's counter table, opened at its first
// use. A refusal (a link planted in its place) is an error; any other
// failure to open it makes budgets count in state.json, for good in this
// process.
func (fc *fileConnector) counterTable() (*counterTable, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.counters != nil || fc.countersErr != nil {
		return fc.counters, fc.countersErr
	}
	if fc.closed {
		return nil, errNoCounterRoom
	}
	t, err := openCounterTable(fc.dir)
	switch {
	case isRefusal(err):
		return nil, err
	case err != nil:
		fc.logger.Warn("jongler: no budget counter table: budgets are counted in the state file", "dir", fc.dir, "err", err)
		fc.countersErr = fmt.Errorf("%w: %v", errNoCounterRoom, err)
		return nil, fc.countersErr
	}
	fc.counters = t
	return t, nil
}

var _ BudgetStore = (*FileStore)(nil)
