package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// noCounters hides a store's budget counters: the transport counts
// budgets in the state, as with a third-party store without them.
type noCounters struct{ jongler.Store }

// budgetStores makes the stores budgets are tested on: with counters
// (memory, file) and without.
func budgetStores() map[string]func(t *testing.T) jongler.Store {
	return map[string]func(t *testing.T) jongler.Store{
		"memory": func(*testing.T) jongler.Store { return jongler.NewMemoryStore() },
		"file": func(t *testing.T) jongler.Store {
			s, err := jongler.NewFileStore(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"state only": func(*testing.T) jongler.Store { return noCounters{jongler.NewMemoryStore()} },
	}
}

// TestBudgetsSharedByTransports: transports sharing a store (two file
// stores on one directory, as two processes) send a project no more
// requests per window than its budget, together, minute and day windows
// alike, on the simulated clock; KeyStates says nothing of budgets, as
// before.
func TestBudgetsSharedByTransports(t *testing.T) {
	for name, newStore := range budgetStores() {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
			var mu sync.Mutex
			perMinute := map[string]int{} // by minute
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
				mu.Lock()
				perMinute[clock.Now().Truncate(time.Minute).Format("15:04")]++
				mu.Unlock()
				fmt.Fprint(w, `{"candidates":[]}`)
			})
			a := newStore(t)
			b := a
			if fs, ok := a.(*jongler.FileStore); ok {
				other, err := jongler.NewFileStore(fs.Dir(), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { other.Close() })
				b = other
			}
			open := func(s jongler.Store) *jongler.Transport {
				return newTransport(t, u,
					jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"], Project: "p"},
						jongler.Key{Name: "key2", Value: testKeys["key2"], Project: "p"}),
					jongler.WithBudgets(jongler.Budget{Model: "*", PerMinute: 3, PerDay: 7}),
					jongler.WithStore(s), jongler.WithClock(clock), jongler.WithMaxWait(-1), jongler.WithMaxInFlight(4))
			}
			trs := []*jongler.Transport{open(a), open(b)}
			send := func(tr http.RoundTripper) (int, time.Duration) {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					var nk *jongler.NoKeyError
					if !errorsAs(err, &nk) {
						t.Fatalf("send: %v", err)
					}
					return 0, nk.RetryAfter
				}
				readBody(t, resp)
				return resp.StatusCode, 0
			}
			for minute := range 4 {
				var wg sync.WaitGroup
				var served, refused int
				var retry time.Duration
				for i := range 8 {
					wg.Go(func() {
						code, after := send(trs[i%2])
						mu.Lock()
						defer mu.Unlock()
						if code == 200 {
							served++
						} else {
							refused++
							retry = after
						}
					})
				}
				wg.Wait()
				want := min(3, 7-3*minute)
				if minute == 3 {
					want = 0
				}
				if served != want {
					t.Fatalf("minute %d: %d served, want %d (budget 3 a minute, 7 a day)", minute, served, want)
				}
				if refused > 0 && retry <= 0 {
					t.Fatalf("minute %d: refused without a Retry-After", minute)
				}
				clock.Sleep(context.Background(), time.Minute)
			}
			ks, err := trs[0].KeyStates(context.Background())
			if err != nil || len(ks.Vacant) != 2 {
				t.Fatalf("KeyStates %+v %v: both keys vacant, as budgets are not key states", ks, err)
			}
		})
	}
}

// TestProjectIsNoKeyValue: a project names budget counters in the store,
// so a key's value given as a project is refused, without showing it.
func TestProjectIsNoKeyValue(t *testing.T) {
	_, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithKeys(jongler.Key{Name: "a", Value: "AIza-value-of-a"}, jongler.Key{Name: "b", Value: "AIza-value-of-b", Project: "AIza-value-of-a"}))
	if err == nil || strings.Contains(err.Error(), "AIza-value") {
		t.Fatalf("a key value as a project: %v; want an error naming no value", err)
	}
}

// countingStore counts the spends asked of a MemoryStore.
type countingStore struct {
	*jongler.MemoryStore
	spends, reads atomic.Int32
}

func (s *countingStore) SpendBudget(ctx context.Context, connector string, n int, cs []jongler.BudgetCounter) ([]int, bool, error) {
	if n > 0 {
		s.spends.Add(1)
	} else {
		s.reads.Add(1)
	}
	return s.MemoryStore.SpendBudget(ctx, connector, n, cs)
}

// TestSpentBudgetLeftOut: once a process found a project's budget spent,
// its keys are left out of the keys leased until the window ends, so that
// requests go to the other projects' keys without trying it again.
func TestSpentBudgetLeftOut(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { fmt.Fprint(w, `{"candidates":[]}`) })
	store := &countingStore{MemoryStore: jongler.NewMemoryStore()}
	tr := newTransport(t, u,
		jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"], Project: "small"},
			jongler.Key{Name: "key2", Value: testKeys["key2"], Project: "large"}),
		jongler.WithBudgets(jongler.Budget{Model: "*", PerMinute: 1}),
		jongler.WithStore(store), jongler.WithClock(clock), jongler.WithMaxWait(-1))
	// Spend the small project's minute elsewhere (another process).
	start := clock.Now().Truncate(time.Minute)
	if _, ok, err := store.MemoryStore.SpendBudget(context.Background(), jongler.ConnectorGemini, 1, []jongler.BudgetCounter{
		{Name: "minute/small/gemini-2.5-flash", Start: start, End: start.Add(time.Minute), Limit: 1}}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	send := func() int { return statusOf(t, tr, u.URL) }
	// key1 is the least recently used: tried, found spent, left out; key2
	// serves, and then its budget is spent too.
	if got := []int{send(), send()}; fmt.Sprint(got) != "[200 0]" {
		t.Fatalf("statuses %v, want [200 0]", got)
	}
	spends, reads := store.spends.Load(), store.reads.Load()
	for range 5 {
		if send() != 0 {
			t.Fatal("a request was served with every budget spent")
		}
	}
	if n, m := store.spends.Load()-spends, store.reads.Load()-reads; n != 0 || m != 0 {
		t.Fatalf("%d spends and %d reads asked of the store once both budgets were found spent; want none", n, m)
	}
	clock.Sleep(context.Background(), time.Minute)
	if got := send(); got != 200 {
		t.Fatalf("next minute: %d, want 200", got)
	}
}
