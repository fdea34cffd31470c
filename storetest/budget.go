package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// budgetRules checks a [jongler.BudgetStore]'s counters: all or nothing,
// within their limits, one count per window, and exactly the limit
// granted to racing spenders.
func budgetRules(t *testing.T, newStore func(t *testing.T) jongler.Store) {
	ctx := context.Background()
	start := time.Now().Truncate(time.Minute)
	day := jongler.BudgetCounter{Name: "day/p/m", Start: start.Add(-time.Hour), End: start.Add(23 * time.Hour), Limit: 3}
	minute := jongler.BudgetCounter{Name: "minute/p/m", Start: start, End: start.Add(time.Minute), Limit: 2}

	t.Run("SpendAllOrNothing", func(t *testing.T) {
		bs := budgetStore(t, newStore)
		both := []jongler.BudgetCounter{day, minute}
		for i, want := range [][]int{{1, 1}, {2, 2}} {
			counts, ok := mustSpend(t, bs, "c", 1, both)
			if !ok || !slices.Equal(counts, want) {
				t.Fatalf("spend %d: %v %v, want %v true", i+1, counts, ok, want)
			}
		}
		// The minute's limit is reached: nothing is counted, not even the day.
		if counts, ok := mustSpend(t, bs, "c", 1, both); ok || !slices.Equal(counts, []int{2, 2}) {
			t.Fatalf("spend past the minute's limit: %v %v, want [2 2] false", counts, ok)
		}
		if counts, ok := mustSpend(t, bs, "c", 0, both); !ok || !slices.Equal(counts, []int{2, 2}) {
			t.Fatalf("read: %v %v, want [2 2] true", counts, ok)
		}
		// The next minute counts afresh; the day goes on, to its limit.
		next := minute
		next.Start, next.End = minute.End, minute.End.Add(time.Minute)
		if counts, ok := mustSpend(t, bs, "c", 1, []jongler.BudgetCounter{day, next}); !ok || !slices.Equal(counts, []int{3, 1}) {
			t.Fatalf("spend in the next minute: %v %v, want [3 1] true", counts, ok)
		}
		if counts, ok := mustSpend(t, bs, "c", 1, []jongler.BudgetCounter{day, next}); ok || !slices.Equal(counts, []int{3, 1}) {
			t.Fatalf("spend past the day's limit: %v %v, want [3 1] false", counts, ok)
		}
		// No limit: always counted.
		free := jongler.BudgetCounter{Name: "minute/q/m", Start: start, End: start.Add(time.Minute)}
		for i := range 5 {
			if counts, ok := mustSpend(t, bs, "c", 1, []jongler.BudgetCounter{free}); !ok || counts[0] != i+1 {
				t.Fatalf("spend %d without a limit: %v %v", i+1, counts, ok)
			}
		}
	})

	t.Run("CountersAreSeparate", func(t *testing.T) {
		bs := budgetStore(t, newStore)
		one := minute
		one.Limit = 1
		other := one
		other.Name = "minute/p/other-model"
		for _, spend := range []struct {
			connector string
			c         jongler.BudgetCounter
		}{{"c1", one}, {"c2", one}, {"c1", other}} {
			if counts, ok := mustSpend(t, bs, spend.connector, 1, []jongler.BudgetCounter{spend.c}); !ok || counts[0] != 1 {
				t.Fatalf("%s %s: %v %v; counters of other connectors or names must not count", spend.connector, spend.c.Name, counts, ok)
			}
		}
	})

	t.Run("ConcurrentSpendsStopAtTheLimit", func(t *testing.T) {
		bs := budgetStore(t, newStore)
		c := minute
		c.Limit = 7
		var granted atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 4 {
					_, ok, err := bs.SpendBudget(ctx, "c", 1, []jongler.BudgetCounter{c})
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						granted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := granted.Load(); got != 7 {
			t.Fatalf("32 spends of a budget of 7 granted %d", got)
		}
	})
}

// sharedBudgetRules checks that two handles on one store spend the same
// counters: racing for the last unit, exactly one gets it.
func sharedBudgetRules(t *testing.T, newPair func(t *testing.T) (a, b jongler.Store)) {
	t.Run("LastUnitAcrossHandles", func(t *testing.T) {
		a, b := newPair(t)
		ba, okA := a.(jongler.BudgetStore)
		bb, okB := b.(jongler.BudgetStore)
		if !okA || !okB {
			t.Skip("not a BudgetStore")
		}
		start := time.Now().Truncate(time.Minute)
		for round := range 20 {
			c := jongler.BudgetCounter{Name: fmt.Sprintf("minute/p%d/m", round), Start: start, End: start.Add(time.Minute), Limit: 3}
			if _, ok := mustSpend(t, ba, "c", 2, []jongler.BudgetCounter{c}); !ok {
				t.Fatal("a spend of 2 out of 3 was refused")
			}
			var granted atomic.Int32
			var wg sync.WaitGroup
			for i := range 6 {
				s := ba
				if i%2 == 1 {
					s = bb
				}
				wg.Go(func() {
					_, ok, err := s.SpendBudget(context.Background(), "c", 1, []jongler.BudgetCounter{c})
					if err != nil {
						t.Error(err)
					}
					if ok {
						granted.Add(1)
					}
				})
			}
			wg.Wait()
			if granted.Load() != 1 {
				t.Fatalf("round %d: %d spenders on two handles got the last unit; want exactly one", round, granted.Load())
			}
			for _, s := range []jongler.BudgetStore{ba, bb} {
				if counts, _ := mustSpend(t, s, "c", 0, []jongler.BudgetCounter{c}); counts[0] != 3 {
					t.Fatalf("round %d: a handle reads %d, want 3", round, counts[0])
				}
			}
		}
	})
}

func budgetStore(t *testing.T, newStore func(t *testing.T) jongler.Store) jongler.BudgetStore {
	t.Helper()
	bs, ok := newStore(t).(jongler.BudgetStore)
	if !ok {
		t.Skip("not a BudgetStore")
	}
	return bs
}

func mustSpend(t *testing.T, s jongler.BudgetStore, connector string, n int, cs []jongler.BudgetCounter) ([]int, bool) {
	t.Helper()
	counts, ok, err := s.SpendBudget(context.Background(), connector, n, cs)
	if err != nil {
		t.Fatalf("SpendBudget: %v", err)
	}
	if len(counts) != len(cs) {
		t.Fatalf("SpendBudget returned %d counts for %d counters", len(counts), len(cs))
	}
	return counts, ok
}
