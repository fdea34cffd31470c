package jongler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/api-jongler/jongler"
)

// A BudgetStore spends a budget's counters all at once, or not at all:
// here a minute's budget of 2 requests, spent by three.
func ExampleBudgetStore() {
	var store jongler.BudgetStore = jongler.NewMemoryStore()
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	minute := jongler.BudgetCounter{Name: "minute/my-project/gemini-2.5-flash", Start: start, End: start.Add(time.Minute), Limit: 2}
	for range 3 {
		counts, ok, err := store.SpendBudget(context.Background(), jongler.ConnectorGemini, 1, []jongler.BudgetCounter{minute})
		fmt.Println(counts, ok, err)
	}
	// Output:
	// [1] true <nil>
	// [2] true <nil>
	// [2] false <nil>
}
