package quota

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// TestIndexAgrees: the index a budgeted lease looks projects up in
// answers as the scans it replaces do, on states of many learned quotas
// and counts, duplicates and odd windows included.
func TestIndexAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	windows := []string{"minute", "day", "hour"}
	for round := range 20 {
		var st state.State
		for range 5 + rng.IntN(40) {
			st.Learned = append(st.Learned, state.Learned{Project: fmt.Sprint("p", rng.IntN(6)), Model: fmt.Sprint("m", rng.IntN(3)),
				Window: windows[rng.IntN(3)], Limit: rng.IntN(5) - 1})
			st.Usage = append(st.Usage, state.Usage{Project: fmt.Sprint("p", rng.IntN(6)), Model: fmt.Sprint("m", rng.IntN(3)),
				Window: windows[rng.IntN(2)], Start: start.Add(time.Duration(rng.IntN(2)) * time.Minute), Count: rng.IntN(9)})
		}
		b := New(Config[Counter]{Budgets: []Budget{{Model: "m0", PerMinute: 2}, {Model: "*", PerDay: 3}}})
		for p := range 7 {
			for m := range 4 {
				project, model := fmt.Sprint("p", p), fmt.Sprint("m", m)
				wantB, wantOK := budgetOf(b.cfg.Budgets, &st, project, model)
				if got, ok := b.Budget(&st, project, model); got != wantB || ok != wantOK {
					t.Fatalf("round %d, %s %s: budget %+v %v, want %+v %v", round, project, model, got, ok, wantB, wantOK)
				}
				for _, w := range windows[:2] {
					for s := range 3 {
						at := start.Add(time.Duration(s) * time.Minute)
						if got, want := b.count(&st, project, model, w, at), st.Count(project, model, w, at); got != want {
							t.Fatalf("round %d, %s %s %s %v: count %d, want %d", round, project, model, w, at, got, want)
						}
					}
				}
			}
		}
	}
}
