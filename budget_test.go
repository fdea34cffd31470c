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

// quota429 is Gemini's per-minute request refusal with the quota's value.
func quota429(value int) string {
	return fmt.Sprintf(`{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[
{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests",
"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"},"quotaValue":"%d"}]},
{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}`, value)
}

// TestLearnedQuota: a 429 naming a request quota and its value teaches it
// for the key's project and model; the project's keys are then sent no
// more than that per window, a configured budget below it wins, a later
// refusal with another value replaces it, and KeyStates shows it.
func TestLearnedQuota(t *testing.T) {
	for name, newStore := range budgetStores() {
		t.Run(name, func(t *testing.T) { testLearnedQuota(t, newStore(t)) })
	}
}

func testLearnedQuota(t *testing.T, store jongler.Store) {
	clock := &fakeClock{now: time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)}
	var mu sync.Mutex
	limit, calls := 3, 0
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(429)
			fmt.Fprint(w, quota429(limit))
			return
		}
		fmt.Fprint(w, `{"candidates":[]}`)
	})
	open := func(opts ...jongler.Option) *jongler.Transport {
		tr := newTransport(t, u, append([]jongler.Option{
			jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"], Project: "p"}),
			jongler.WithStore(store), jongler.WithClock(clock), jongler.WithMaxWait(-1)}, opts...)...)
		return tr
	}
	tr := open()
	send := func(tr http.RoundTripper) int { return statusOf(t, tr, u.URL) }
	if got := send(tr); got != 429 {
		t.Fatalf("first: %d", got)
	}
	ks, _ := tr.KeyStates(context.Background())
	if len(ks.Learned) != 1 {
		t.Fatalf("learned %+v", ks.Learned)
	}
	if l := ks.Learned[0]; l.Project != "p" || l.Model != "gemini-2.5-flash" || l.Window != "minute" || l.Limit != 3 ||
		!l.At.Equal(clock.Now()) || l.From != "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" {
		t.Fatalf("learned %+v", l)
	}
	// The next window: 3 requests, then none until the one after.
	clock.Sleep(context.Background(), 30*time.Second)
	var got []int
	for range 4 {
		got = append(got, send(tr))
	}
	if fmt.Sprint(got) != "[200 200 200 0]" || len(u.requests()) != 4 {
		t.Fatalf("statuses %v after %d sends, want 3 served and the 4th held back unsent", got, len(u.requests()))
	}
	// A configured budget below the learned quota wins.
	clock.Sleep(context.Background(), time.Minute)
	tr2 := open(jongler.WithBudgets(jongler.Budget{Model: "gemini-2.5-flash", PerMinute: 1}))
	if got := []int{send(tr2), send(tr2)}; fmt.Sprint(got) != "[200 0]" {
		t.Fatalf("with a budget of 1: %v", got)
	}
	// A later refusal with another value is learned anew.
	clock.Sleep(context.Background(), time.Minute)
	mu.Lock()
	calls, limit = 0, 2
	mu.Unlock()
	send(tr)
	ks, _ = tr.KeyStates(context.Background())
	if len(ks.Learned) != 1 || ks.Learned[0].Limit != 2 {
		t.Fatalf("relearned %+v", ks.Learned)
	}
}

// TestTokenQuotaNotLearned: a per-minute token quota is no request budget.
func TestTokenQuotaNotLearned(t *testing.T) {
	body := fixture(t, "gemini/429-per-minute-tokens-free.json")
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.WriteHeader(429)
		w.Write(body)
	})
	tr := newTransport(t, u, jongler.WithMaxWait(-1), jongler.WithStore(jongler.NewMemoryStore()))
	readBody(t, post(t, tr, u.URL+genPath, "{}"))
	if ks, _ := tr.KeyStates(context.Background()); len(ks.Learned) != 0 {
		t.Fatalf("learned %+v from a token quota", ks.Learned)
	}
}

// TestSpentHeadersRestTheKey: a 200 whose headers say the key's requests
// are spent is returned as it is, and the key is sent nothing more until
// the reset; a key whose headers say nothing of the kind keeps serving.
func TestSpentHeadersRestTheKey(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 10, 21, 20, 30, 0, time.UTC)}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		remaining := "5"
		if key == testKeys["key1"] {
			remaining = "0"
		}
		w.Header().Set("x-ratelimit-remaining-requests", remaining)
		w.Header().Set("x-ratelimit-reset-requests", "42s")
		fmt.Fprint(w, `{"id":"chatcmpl-1","choices":[]}`)
	})
	tr, err := jongler.NewTransport("api.openai.com",
		jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"]}, jongler.Key{Name: "key2", Value: testKeys["key2"]}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(u.URL),
		jongler.WithClock(clock),
		jongler.WithMaxWait(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	send := func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer placeholder")
		return tr.RoundTrip(req)
	}
	for i := range 4 {
		resp, err := send()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "chatcmpl-1") {
			t.Fatalf("request %d: %d %s: the answer must be returned as it is", i, resp.StatusCode, body)
		}
	}
	var got []string
	for _, k := range u.keysSeen() {
		got = append(got, valueName(k))
	}
	if strings.Join(got, ",") != "key1,key2,key2,key2" {
		t.Fatalf("keys sent: %v; want key1 once, then key2 only", got)
	}
	ks, _ := tr.KeyStates(context.Background())
	d := ks.Keys["key1"]
	if d.State != jongler.StateLockdown || !d.Until.Equal(clock.Now().Add(42*time.Second)) || d.Model != "gpt-4o-mini" ||
		!strings.Contains(d.Reason, "requests") {
		t.Fatalf("key1: %+v, want LOCKDOWN for gpt-4o-mini until the reset, saying why", d)
	}
	clock.Sleep(context.Background(), 42*time.Second)
	resp, err := send()
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if last := u.keysSeen(); valueName(last[len(last)-1]) != "key1" {
		t.Fatal("key1 did not serve again once its window reset")
	}
	// key1 said it is spent again: key2 serves.
	resp, err = send()
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if last := u.keysSeen(); valueName(last[len(last)-1]) != "key2" {
		t.Fatal("key1 was sent a request after saying again that it was spent")
	}
}
