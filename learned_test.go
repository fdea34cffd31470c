package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

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
