package jongler_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/canned"
)

// acquireCounter counts the store's Acquire calls.
type acquireCounter struct {
	jongler.Store
	acquires atomic.Int64
}

func (s *acquireCounter) Acquire(ctx context.Context, connector string, keys []string, slots int) (jongler.Lease, error) {
	s.acquires.Add(1)
	return s.Store.Acquire(ctx, connector, keys, slots)
}

// gated answers from memory once gate is closed.
type gated struct{ gate chan struct{} }

func (g gated) RoundTrip(r *http.Request) (*http.Response, error) {
	<-g.gate
	return canned.Transport{}.RoundTrip(r)
}

// TestReleaseWakesOne: many requests wait for one key; each release wakes
// one of them, not all, so the store is asked for a key a few times a
// request, not once per request waiting at each release. In a
// testing/synctest bubble, where time moves only when every goroutine
// waits: it never moves, so no request ever waited for its poll while the
// key was vacant.
func TestReleaseWakesOne(t *testing.T) {
	const requests = 40
	synctest.Test(t, func(t *testing.T) {
		// The first request holds the key until every other one waits.
		gate := make(chan struct{})
		store := &acquireCounter{Store: jongler.NewMemoryStore()}
		tr, err := jongler.NewTransport(jongler.ConnectorGemini,
			jongler.WithKeys(jongler.Key{Name: "only", Value: "wake-test-secret-1"}),
			jongler.WithStore(store), jongler.WithBaseURL("http://gemini.test"),
			jongler.WithBaseTransport(gated{gate}))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		client := &http.Client{Transport: tr}
		start := time.Now()
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for range requests {
			wg.Go(func() {
				<-begin
				resp, err := client.Post("http://gemini.test/v1beta/models/gemini-2.5-flash:generateContent", "application/json", strings.NewReader(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		synctest.Wait()
		close(begin)
		synctest.Wait() // one request holds the key, every other waits
		close(gate)
		wg.Wait()
		if d := time.Since(start); d != 0 {
			t.Errorf("requests waited %v of simulated time: a key was vacant while a request slept", d)
		}
		if n := store.acquires.Load(); n > 3*requests {
			t.Errorf("%d requests for one key asked the store %d times, want at most %d", requests, n, 3*requests)
		} else {
			t.Logf("%d requests for one key asked the store %d times", requests, n)
		}
	})
}
