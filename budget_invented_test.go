package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	jongler "github.com/api-jongler/jongler"
)

// TestInventedModelNamesBounded: a client that names a new model on every
// request under a "*" budget makes the stores keep a bounded number of
// counts, whatever the store (here, one project): at most MaxModels names a day are counted
// apart, the others share one count. On main before this bound, each name
// got counters of its own for the day, and the file store spilled them
// into state.json, rewritten on every request.
func TestInventedModelNamesBounded(t *testing.T) {
	const names = 1200 // past quota.MaxModels (256), and then some
	for name, newStore := range budgetStores() {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
				fmt.Fprint(w, `{"candidates":[]}`)
			})
			s := newStore(t)
			tr := newTransport(t, u, jongler.WithStore(s),
				jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"], Project: "p"},
					jongler.Key{Name: "key2", Value: testKeys["key2"], Project: "p"}), jongler.WithClock(clock), jongler.WithMaxWait(-1),
				jongler.WithBudgets(jongler.Budget{Model: "*", PerMinute: 100000, PerDay: 100000}))
			for i := range names {
				readBody(t, post(t, tr, fmt.Sprintf("%s/v1beta/models/made-up-%d:generateContent", u.URL, i), "{}"))
			}
			st, err := jongler.LoadState(context.Background(), s, tr.Connector().Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Models) > 256 {
				t.Fatalf("the state lists %d models; want at most 256", len(st.Models))
			}
			if len(st.Usage) > 2*257 {
				t.Fatalf("the state keeps %d counts after %d model names; want at most %d", len(st.Usage), names, 2*257)
			}
			switch s := s.(type) {
			case *jongler.MemoryStore:
				if n := s.CounterNames(tr.Connector().Name); n > 2*257 {
					t.Fatalf("the memory store keeps %d counters after %d model names; want at most %d", n, names, 2*257)
				}
			case *jongler.FileStore:
				if len(st.Usage) != 0 {
					t.Fatalf("the file store spilled %d counts into its state", len(st.Usage))
				}
				fi, err := os.Stat(filepath.Join(s.Dir(), "state.json"))
				if err == nil && fi.Size() > 64<<10 {
					t.Fatalf("state.json is %d bytes after %d model names", fi.Size(), names)
				}
			}
		})
	}
}
