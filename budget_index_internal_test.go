package jongler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestStateIndexAgrees: the index a budgeted lease looks projects up in
// answers as the scans it replaces do, on states of many learned quotas
// and counts, duplicates and odd windows included.
func TestStateIndexAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	windows := []string{"minute", "day", "hour"}
	for round := range 20 {
		var st state
		for range 5 + rng.IntN(40) {
			st.Learned = append(st.Learned, learned{Project: fmt.Sprint("p", rng.IntN(6)), Model: fmt.Sprint("m", rng.IntN(3)),
				Window: windows[rng.IntN(3)], Limit: rng.IntN(5) - 1})
			st.Usage = append(st.Usage, usage{Project: fmt.Sprint("p", rng.IntN(6)), Model: fmt.Sprint("m", rng.IntN(3)),
				Window: windows[rng.IntN(2)], Start: start.Add(time.Duration(rng.IntN(2)) * time.Minute), Count: rng.IntN(9)})
		}
		r := &keyring{budgets: []Budget{{Model: "m0", PerMinute: 2}, {Model: "*", PerDay: 3}}}
		for p := range 7 {
			for m := range 4 {
				project, model := fmt.Sprint("p", p), fmt.Sprint("m", m)
				wantB, wantOK := budgetOf(r.budgets, &st, project, model)
				if b, ok := r.budgetOf(&st, project, model); b != wantB || ok != wantOK {
					t.Fatalf("round %d, %s %s: budget %+v %v, want %+v %v", round, project, model, b, ok, wantB, wantOK)
				}
				for _, w := range windows[:2] {
					for s := range 3 {
						at := start.Add(time.Duration(s) * time.Minute)
						if got, want := r.usageCount(&st, project, model, w, at), st.usageCount(project, model, w, at); got != want {
							t.Fatalf("round %d, %s %s %s %v: count %d, want %d", round, project, model, w, at, got, want)
						}
					}
				}
			}
		}
	}
}
