package filestore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Counter is one budget counter a spend reads and counts: a name and its
// window, and the most its count may reach (0: no limit).
type Counter struct {
	Name       string    // the same in every window; never a key value
	Start, End time.Time // the window counted
	Limit      int       // the most the count may reach; 0: no limit
}

// ErrNoCounterRoom is SpendBudget's answer when the counter table has no
// room for a counter, or cannot be used: the caller then counts in the
// state file, as it does with stores that keep no counters.
var ErrNoCounterRoom = errors.New("jongler: no room for a budget counter")

// SpendBudget reads the counts of counters of connector in their windows
// and, if n > 0 and no limit would be passed, adds n to each, all under
// one lock; it returns the counts and whether n was spent. The counters
// live in DIR/CONNECTOR/budget.table, mapped in memory by every process
// and guarded by a flock. When the table has no room for a counter or
// cannot be had, the answer is ErrNoCounterRoom.
func (s *Store) SpendBudget(ctx context.Context, connector string, n int, counters []Counter) ([]int, bool, error) {
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
	counts, ok, err := t.spend(ctx, n, counters)
	if errors.Is(err, ErrNoCounterRoom) && counterTables && fc.fullWarned.CompareAndSwap(false, true) {
		// Counting goes on in state.json, at the cost of a write of it per
		// budgeted request: say so once.
		fc.logger.Warn("jongler: budget counter table cannot take a counter; budgets are counted in the state file for such counters", "dir", fc.dir, "err", err)
	}
	return counts, ok, err
}

// counterTable returns the connector's counter table, opened at its first
// use. A refusal (a link planted in its place) is an error; any other
// failure to open it makes budgets count in state.json, and is tried again
// a minute on: while it lasts, this process does not see what others count
// in the table, and the budget may be overspent by up to what it counts.
func (fc *fileConnector) counterTable() (*counterTable, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.counters != nil {
		return fc.counters, nil
	}
	if fc.closed {
		return nil, ErrNoCounterRoom
	}
	if fc.countersErr != nil && time.Now().Before(fc.countersRetry) {
		return nil, fc.countersErr
	}
	t, err := openCounterTable(fc.dir)
	switch {
	case isRefusal(err):
		return nil, err
	case err != nil:
		if fc.countersErr == nil { // warned once, not every minute
			fc.logger.Warn("jongler: no budget counter table: budgets are counted in the state file", "dir", fc.dir, "err", err)
		}
		fc.countersErr = fmt.Errorf("%w: %v", ErrNoCounterRoom, err)
		fc.countersRetry = time.Now().Add(time.Minute)
		return nil, fc.countersErr
	}
	if fc.countersErr != nil {
		fc.logger.Info("jongler: budget counter table opened: budgets are counted in it again", "dir", fc.dir)
		fc.countersErr = nil
	}
	fc.counters = t
	return t, nil
}
