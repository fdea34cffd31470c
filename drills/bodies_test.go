package drills_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/transporttest"
)

// The body drill: a base RoundTripper wraps every response body in a
// counting closer, as golang.org/x/oauth2's tests do for request bodies.
// Whatever path a request takes through the transport (rotation, resends,
// refusals, errors, streams), every body it discards must be closed by the
// time RoundTrip returns, and the one it returns once the caller closes it;
// the caller's request body is closed too.

// countingBase records the response bodies it hands out.
type countingBase struct {
	next   http.RoundTripper
	fail   atomic.Int32 // sends left to fail with a transport error
	mu     sync.Mutex
	bodies []*trackedBody
	sends  int
}

// trackedBody says whether it was closed.
type trackedBody struct {
	io.ReadCloser
	closed atomic.Bool
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

func (c *countingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.sends++
	c.mu.Unlock()
	if c.fail.Add(-1) >= 0 {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	}
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	tb := &trackedBody{ReadCloser: resp.Body}
	resp.Body = tb
	c.mu.Lock()
	c.bodies = append(c.bodies, tb)
	c.mu.Unlock()
	return resp, nil
}

// open counts the bodies not closed.
func (c *countingBase) open() (open, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bodies {
		if !b.closed.Load() {
			open++
		}
	}
	return open, len(c.bodies)
}

func TestDrillResponseBodiesClosedOnEveryPath(t *testing.T) {
	keys := map[string]string{"key1": "body-secret-1", "key2": "body-secret-2", "key3": "body-secret-3"}
	perMinute := fixture(t, "gemini/429-per-minute-tokens-free.json")
	invalid := fixture(t, "gemini/400-api-key-invalid.json")
	overloaded := fixture(t, "gemini/503-overloaded.json")
	huge := bytes.Repeat([]byte("x"), 2<<20)
	var mu sync.Mutex
	n := map[string]int{} // sends by scenario
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		sc := r.URL.Query().Get("scenario")
		mu.Lock()
		n[sc]++
		i := n[sc]
		mu.Unlock()
		switch sc {
		case "rotation":
			if key == keys["key1"] {
				w.WriteHeader(429)
				w.Write(perMinute)
				return
			}
		case "refused for good":
			if key != keys["key3"] {
				w.WriteHeader(400)
				w.Write(invalid)
				return
			}
		case "every key refused":
			w.WriteHeader(429)
			w.Write(perMinute)
			return
		case "resends then success":
			if i <= 2 {
				w.WriteHeader(503)
				w.Write(overloaded)
				return
			}
		case "resends exhausted", "canceled during backoff":
			w.WriteHeader(503)
			w.Write(overloaded)
			return
		case "error body too long to read":
			w.WriteHeader(500)
			w.Write(huge)
			return
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			for range 3 {
				io.WriteString(w, "data: {}\n\n")
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	noWait := jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return time.Millisecond })
	cases := []struct {
		scenario string
		fail     int32 // transport errors first
		opts     []jongler.Option
		ctx      func() (context.Context, context.CancelFunc)
		wantErr  bool
		status   int
	}{
		{scenario: "rotation", status: 200},
		{scenario: "refused for good", status: 200},
		{scenario: "every key refused", status: 429, opts: []jongler.Option{jongler.WithMaxWait(-1)}},
		{scenario: "resends then success", status: 200},
		{scenario: "resends exhausted", status: 503, opts: []jongler.Option{jongler.WithMaxRetries(2)}},
		{scenario: "transport errors then success", fail: 2, status: 200},
		{scenario: "transport errors exhausted", fail: 100, wantErr: true, opts: []jongler.Option{jongler.WithMaxRetries(2)}},
		{scenario: "error body too long to read", status: 500},
		{scenario: "stream", status: 200},
		{scenario: "canceled during backoff", wantErr: true,
			opts: []jongler.Option{jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return 30 * time.Second })},
			ctx: func() (context.Context, context.CancelFunc) {
				// No deadline (a wait past one is not begun): cancelled
				// while it waits.
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			}},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			base := &countingBase{next: http.DefaultTransport}
			base.fail.Store(tc.fail)
			tr, err := jongler.NewTransport(jongler.ConnectorGemini, append([]jongler.Option{
				jongler.WithKeys(keyList(keys)...), jongler.WithStateDir(t.TempDir()), jongler.WithBaseURL(u.URL),
				jongler.WithLogger(slog.New(slog.DiscardHandler)), jongler.WithBaseTransport(base), noWait,
			}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.Background(), func() {}
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			reqBody := &trackedBody{ReadCloser: io.NopCloser(strings.NewReader(`{"contents":[]}`))}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+genPath+"?scenario="+strings.ReplaceAll(tc.scenario, " ", "+"), reqBody)
			resp, err := tr.RoundTrip(req)
			if !reqBody.closed.Load() {
				t.Error("the caller's request body was not closed")
			}
			open, all := base.open()
			if err != nil {
				if !tc.wantErr {
					t.Fatalf("RoundTrip: %v", err)
				}
				if open != 0 {
					t.Errorf("RoundTrip failed with %d of %d response bodies left open", open, all)
				}
				return
			}
			if tc.wantErr {
				t.Fatalf("RoundTrip: %d, want an error", resp.StatusCode)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if open > 1 {
				t.Errorf("%d of %d response bodies open when RoundTrip returned; want at most the one returned", open, all)
			}
			if tc.scenario == "stream" {
				// Read a part only, then close: the body and the lease end.
				resp.Body.Read(make([]byte, 4))
			} else {
				io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
			if open, all := base.open(); open != 0 {
				t.Errorf("%d of %d response bodies open after the caller closed the answer", open, all)
			}
			// And the lease ended with it: the key is free again, at once
			// or, for a stream abandoned mid-way, after the rest of a
			// dead holder's key (TestAbandonedStreamRests).
			transporttest.WaitNoneInFlight(t, tr)
			t.Logf("%d sends, %d response bodies, all closed", base.sends, all)
		})
	}
}
