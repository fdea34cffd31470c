//go:build unix

package jongler

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestCounterTableDamagedCountNeverOverspends: a count made negative or
// huge in budget.table (garbage written over it) never lets a spend past
// its limit, and never wraps around.
func TestCounterTableDamagedCountNeverOverspends(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c := []BudgetCounter{{Name: "day/p/m", Start: start, End: start.Add(24 * time.Hour), Limit: 3}}
	for _, planted := range []int64{-1000, math.MaxInt64, math.MaxInt64 - 1, math.MinInt64} {
		tab, err := openCounterTable(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := tab.spend(ctx, 1, c); !ok || err != nil {
			t.Fatalf("first spend: %v %v", ok, err)
		}
		e, found := tab.find(counterHash(c[0].Name), start.UnixNano(), nil)
		if !found {
			t.Fatal("counter not found")
		}
		_, _, _, count := tab.entry(e)
		*count = planted
		spent := 0
		for range 10 {
			counts, ok, err := tab.spend(ctx, 1, c)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				spent++
			}
			if counts[0] < 0 {
				t.Errorf("count %d planted: a spend reports count %d", planted, counts[0])
			}
		}
		if spent > c[0].Limit {
			t.Errorf("count %d planted: %d spends went through a limit of %d", planted, spent, c[0].Limit)
		}
		tab.close()
	}
}
