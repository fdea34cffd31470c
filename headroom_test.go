package jongler_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestHeadroom: Headroom says now while a key may serve the model, the
// end of the window when the budget is spent, the end of a cooldown when
// the only key rests, and never once it is refused for good; it sends
// nothing upstream.
func TestHeadroom(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 5, 4, 9, 0, 10, 0, time.UTC)}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if r.URL.Query().Get("bad") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("spent") != "" {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{}`))
	})
	tr, err := jongler.NewTransport(jongler.ConnectorGroq, jongler.WithBaseURL(u.URL), jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithKeys(jongler.Key{Name: "k", Value: xpSecret(t, "k")}), jongler.WithClock(clock),
		jongler.WithBudgets(jongler.Budget{Model: "small", PerMinute: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	at := func(model string) time.Time {
		t.Helper()
		h, err := tr.Headroom(ctx, model)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := at("small"); !h.Equal(clock.Now()) {
		t.Fatalf("fresh key: headroom at %v, want now %v", h, clock.Now())
	}
	readBody(t, post(t, tr, u.URL+"/openai/v1/chat/completions", `{"model":"small"}`))
	if h, want := at("small"), time.Date(2026, 5, 4, 9, 1, 0, 0, time.UTC); !h.Equal(want) {
		t.Errorf("budget spent: headroom at %v, want the window's end %v", h, want)
	}
	if h := at("big"); !h.Equal(clock.Now()) {
		t.Errorf("another model: headroom at %v, want now", h)
	}
	readBody(t, post(t, tr, u.URL+"/openai/v1/chat/completions?spent=1", `{"model":"big"}`))
	if h, want := at("big"), clock.Now().Add(30*time.Second); !h.Equal(want) {
		t.Errorf("cooling key: headroom at %v, want %v", h, want)
	}
	n := len(u.requests())
	at("big")
	at("small")
	if len(u.requests()) != n {
		t.Error("Headroom sent a request upstream")
	}

	readBody(t, post(t, tr, u.URL+"/openai/v1/chat/completions?bad=1", `{"model":"other"}`))
	if h := at("small"); !h.IsZero() {
		t.Errorf("key refused for good: headroom %v, want the zero time", h)
	}
}
