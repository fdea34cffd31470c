package jongler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

func TestRotation(t *testing.T) {
	tests := []struct {
		name       string
		limited    []string // key names answered 429
		wantStatus int
		wantTries  int
		wantLocked []string
	}{
		{"first key free", nil, 200, 1, nil},
		{"one limited", []string{"key1"}, 200, 2, []string{"key1"}},
		{"two limited", []string{"key1", "key2"}, 200, 3, []string{"key1", "key2"}},
		{"all limited", []string{"key1", "key2", "key3"}, 429, 3, []string{"key1", "key2", "key3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
				if slices.Contains(tt.limited, valueName(key)) {
					w.WriteHeader(429)
					fmt.Fprintf(w, `{"error":{"code":429,"message":"limited %s"}}`, valueName(key))
					return
				}
				fmt.Fprint(w, `{"ok":true}`)
			})
			tr := newTransport(t, u, jongler.WithPolicy(jongler.StatusPolicy{}))
			resp := post(t, tr, u.URL+genPath, `{"contents":[]}`)
			body := readBody(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			seen := u.keysSeen()
			if len(seen) != tt.wantTries {
				t.Fatalf("upstream saw %d requests, want %d", len(seen), tt.wantTries)
			}
			names := map[string]bool{}
			for _, k := range seen {
				if names[valueName(k)] {
					t.Fatalf("key %s tried twice for one request", valueName(k))
				}
				names[valueName(k)] = true
			}
			if tt.wantStatus == 429 {
				// The last answer comes back unchanged.
				last := valueName(seen[len(seen)-1])
				if want := fmt.Sprintf(`{"error":{"code":429,"message":"limited %s"}}`, last); body != want {
					t.Fatalf("body %q, want the last answer %q", body, want)
				}
			}
			ks, err := tr.KeyStates(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ks.Lockdown, tt.wantLocked) {
				t.Fatalf("Lockdown = %v, want %v", ks.Lockdown, tt.wantLocked)
			}
			for _, n := range tt.wantLocked {
				if d := ks.Keys[n]; d.State != jongler.StateLockdown || !d.Until.After(time.Now()) {
					t.Fatalf("%s detail %+v: want LOCKDOWN with a future expiry", n, d)
				}
			}
		})
	}
}

// onceReader is a body without GetBody that can be read only once.
type onceReader struct {
	r      io.Reader
	closed atomic.Int32
}

func (o *onceReader) Read(p []byte) (int, error) { return o.r.Read(p) }
func (o *onceReader) Close() error               { o.closed.Add(1); return nil }

func TestBodyReplayedIdentically(t *testing.T) {
	const payload = `{"contents":[{"parts":[{"text":"hello, jongler"}]}]}`
	for _, withGetBody := range []bool{true, false} {
		t.Run(fmt.Sprint("GetBody=", withGetBody), func(t *testing.T) {
			n := 0
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
				if n++; n < 3 {
					w.WriteHeader(429)
					return
				}
				w.Write([]byte("ok"))
			})
			tr := newTransport(t, u)
			body := &onceReader{r: strings.NewReader(payload)}
			req, _ := http.NewRequest(http.MethodPost, u.URL+genPath, body)
			if withGetBody {
				req, _ = http.NewRequest(http.MethodPost, u.URL+genPath, strings.NewReader(payload))
			} else {
				req.ContentLength = int64(len(payload))
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			seen := u.requests()
			if len(seen) != 3 {
				t.Fatalf("%d sends, want 3", len(seen))
			}
			for i, s := range seen {
				if s.body != payload {
					t.Fatalf("send %d body %q, want %q", i, s.body, payload)
				}
			}
			if !withGetBody && body.closed.Load() == 0 {
				t.Fatal("the caller's request body was not closed")
			}
		})
	}
}

func TestBodyOverBufferBoundWithoutGetBody(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
	tr := newTransport(t, u, jongler.WithMaxBodyBuffer(8))
	body := &onceReader{r: strings.NewReader("0123456789abcdef")}
	req, _ := http.NewRequest(http.MethodPost, u.URL+genPath, body)
	_, err := tr.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "WithMaxBodyBuffer") {
		t.Fatalf("err = %v, want one naming WithMaxBodyBuffer", err)
	}
	if body.closed.Load() != 1 {
		t.Fatalf("body closed %d times, want 1", body.closed.Load())
	}
	if len(u.requests()) != 0 {
		t.Fatal("an unreplayable request was sent")
	}
}

func TestCredentialSlots(t *testing.T) {
	tests := []struct {
		name      string
		prepare   func(r *http.Request)
		query     string
		wantSlot  string
		wantQuery string
	}{
		{"none sent: connector default", func(r *http.Request) {}, "alt=sse", "x-goog-api-key", "alt=sse"},
		{"header placeholder", func(r *http.Request) { r.Header.Set("X-Goog-Api-Key", "placeholder") }, "", "x-goog-api-key", ""},
		{"bearer placeholder", func(r *http.Request) { r.Header.Set("Authorization", "Bearer placeholder") }, "", "authorization", ""},
		{"query placeholder", func(r *http.Request) {}, "alt=sse&key=placeholder&x=1", "query", "alt=sse&key=val-one-3f9a&x=1"},
		{"query and header: one credential", func(r *http.Request) { r.Header.Set("x-goog-api-key", "p") }, "key=p&alt=sse", "x-goog-api-key", "alt=sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
			tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "only", Value: "val-one-3f9a"}))
			target := u.URL + genPath
			if tt.query != "" {
				target += "?" + tt.query
			}
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader("{}"))
			tt.prepare(req)
			before := req.Header.Clone()
			beforeURL := req.URL.String()
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			s := u.requests()[0]
			if s.key != "val-one-3f9a" || !slices.Equal(s.slots, []string{tt.wantSlot}) {
				t.Fatalf("upstream got credential %q in %v, want the key in [%s] only", s.key, s.slots, tt.wantSlot)
			}
			if s.query != tt.wantQuery {
				t.Fatalf("query %q, want %q", s.query, tt.wantQuery)
			}
			if !equalHeader(before, req.Header) || req.URL.String() != beforeURL {
				t.Fatal("the caller's request was changed")
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestRedirectToForeignHostCarriesNoKey(t *testing.T) {
	foreign := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte("foreign")) })
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		http.Redirect(w, r, foreign.URL+"/elsewhere?key=placeholder&keep=1", http.StatusFound)
	})
	tr := newTransport(t, u)
	req, _ := http.NewRequest(http.MethodGet, u.URL+"/v1beta/models?key=placeholder", nil)
	req.Header.Set("x-goog-api-key", "placeholder")
	req.Header.Set("Authorization", "Bearer placeholder")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); got != "foreign" {
		t.Fatalf("body %q", got)
	}
	if k := u.keysSeen(); len(k) != 1 || valueName(k[0]) == "?"+k[0] {
		t.Fatalf("own host saw %v, want one real key", k)
	}
	f := foreign.requests()
	if len(f) != 1 {
		t.Fatalf("foreign host saw %d requests", len(f))
	}
	if f[0].key != "" || len(f[0].slots) != 0 {
		t.Fatalf("foreign host got a credential in %v", f[0].slots)
	}
	if f[0].query != "keep=1" {
		t.Fatalf("foreign query %q, want keep=1 (credential stripped, rest kept)", f[0].query)
	}
}

func TestWaitsForLockedKeyAndHonoursContext(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if r.Header.Get("X-Hold") != "" {
			<-release
		}
		w.Write([]byte("ok"))
	})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server's Close
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only"}))
	client := &http.Client{Transport: tr}

	held := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
		req.Header.Set("X-Hold", "1")
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
		}
		held <- resp
	}()
	waitFor(t, func() bool { return len(u.requests()) == 1 })

	// The only key is leased: a second request waits, and gives up with
	// its context.
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
	start := time.Now()
	_, err := client.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d < 70*time.Millisecond || d > 2*time.Second {
		t.Fatalf("gave up after %v, want about 80ms", d)
	}
	if n := len(u.requests()); n != 1 {
		t.Fatalf("upstream saw %d requests while the key was leased", n)
	}

	// A waiting request gets the key as soon as it is released.
	done := make(chan string)
	go func() {
		resp, err := client.Do(mustRequest(t, u.URL+genPath))
		if err != nil {
			t.Error(err)
			done <- ""
			return
		}
		done <- readBody(t, resp)
	}()
	time.Sleep(20 * time.Millisecond)
	unblock()
	readBody(t, <-held)
	select {
	case got := <-done:
		if got != "ok" {
			t.Fatalf("waiting request got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting request did not get the released key")
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSSEStreamsAndLeaseHeldUntilClose(t *testing.T) {
	next := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"chunk\":%d}\n\n", i)
			w.(http.Flusher).Flush()
			<-next
		}
	})
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only"}))
	req, _ := http.NewRequest(http.MethodPost, u.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	buf := make([]byte, 64)
	for i := range 3 {
		// Each chunk arrives before the server writes the next.
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("data: {\"chunk\":%d}\n\n", i); string(buf[:n]) != want {
			t.Fatalf("chunk %d = %q, want %q", i, buf[:n], want)
		}
		ks, err := tr.KeyStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ks.Locked, []string{"only"}) || ks.Keys["only"].InFlight != 1 {
			t.Fatalf("while streaming: %+v, want the key LOCKED", ks)
		}
		next <- struct{}{}
	}
	// Read to its end (a stream closed before is abandoned: its key
	// rests, see TestAbandonedStreamRests).
	if n, err := resp.Body.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the last chunk: %d, %v; want EOF", n, err)
	}
	resp.Body.Close()
	ks, _ := tr.KeyStates(ctx)
	if !slices.Equal(ks.Vacant, []string{"only"}) {
		t.Fatalf("after EOF and Close: %+v, want the key VACANT", ks)
	}
}

func TestLeaseReleasedAtEOF(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte("done")) })
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only"}))
	resp, err := tr.RoundTrip(mustRequest(t, u.URL+genPath))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	ks, _ := tr.KeyStates(context.Background())
	if !slices.Equal(ks.Vacant, []string{"only"}) {
		t.Fatalf("after EOF, before Close: %+v, want VACANT", ks)
	}
	resp.Body.Close()
}

func TestLockdownExpiresByItself(t *testing.T) {
	limited := atomic.Bool{}
	limited.Store(true)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if limited.Swap(false) {
			w.WriteHeader(429)
			return
		}
		w.Write([]byte("ok"))
	})
	tr := newTransport(t, u,
		jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only"}),
		jongler.WithPolicy(jongler.StatusPolicy{Cooldown: 50 * time.Millisecond}),
		jongler.WithMaxWait(-1))
	client := &http.Client{Transport: tr}

	resp, err := client.Do(mustRequest(t, u.URL+genPath))
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != 429 {
		t.Fatalf("status %d, want the 429 back (one key, tried once)", resp.StatusCode)
	}
	_, err = client.Do(mustRequest(t, u.URL+genPath))
	var nk *jongler.NoKeyError
	if !errors.Is(err, jongler.ErrNoKeys) || !errors.As(err, &nk) {
		t.Fatalf("err = %v, want ErrNoKeys", err)
	}
	if nk.RetryAfter <= 0 || nk.RetryAfter > 50*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want (0, 50ms]", nk.RetryAfter)
	}
	time.Sleep(nk.RetryAfter + 5*time.Millisecond)
	ks, _ := tr.KeyStates(context.Background())
	if !slices.Equal(ks.Vacant, []string{"only"}) {
		t.Fatalf("after the cooldown: %+v, want VACANT", ks)
	}
	resp, err = client.Do(mustRequest(t, u.URL+genPath))
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); got != "ok" {
		t.Fatalf("got %q", got)
	}
}

func TestWaitsForCooldownWithinBound(t *testing.T) {
	limited := atomic.Bool{}
	limited.Store(true)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if limited.Swap(false) {
			w.WriteHeader(429)
			return
		}
		w.Write([]byte("ok"))
	})
	tr := newTransport(t, u,
		jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only"}),
		jongler.WithPolicy(jongler.StatusPolicy{Cooldown: 60 * time.Millisecond}),
		jongler.WithMaxWait(time.Second))
	// The only key is refused; it is back within the wait allowed, so the
	// request waits for it rather than failing.
	start := time.Now()
	resp := post(t, tr, u.URL+genPath, "{}")
	if got := readBody(t, resp); got != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, got)
	}
	if d := time.Since(start); d < 55*time.Millisecond {
		t.Fatalf("answered after %v: it did not wait for the cooldown", d)
	}
	if n := len(u.requests()); n != 2 {
		t.Fatalf("%d sends, want 2: one refused, one after the cooldown", n)
	}
}

func TestUnauthorizedKeyGoesToError(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if valueName(key) == "key1" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte("ok"))
	})
	tr := newTransport(t, u)
	for range 3 {
		resp := post(t, tr, u.URL+genPath, "{}")
		if got := readBody(t, resp); got != "ok" {
			t.Fatalf("got %q", got)
		}
	}
	if n := strings.Count(strings.Join(u.keysSeen(), ","), testKeys["key1"]); n != 1 {
		t.Fatalf("refused key sent %d times, want once", n)
	}
	ks, _ := tr.KeyStates(context.Background())
	if !slices.Equal(ks.Error, []string{"key1"}) || ks.Keys["key1"].Reason == "" {
		t.Fatalf("%+v: want key1 in ERROR with a reason", ks)
	}
	if err := tr.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ks, _ := tr.KeyStates(context.Background()); len(ks.Error) != 0 {
		t.Fatalf("after Cleanup: %+v", ks)
	}
}

// flakyBase fails the first n sends as a reset connection would.
type flakyBase struct {
	n    atomic.Int32
	base http.RoundTripper
}

func (f *flakyBase) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	}
	return f.base.RoundTrip(r)
}

func TestTransportErrorsRetriedBounded(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.Write([]byte("ok")) })
	noWait := jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return time.Millisecond })

	flaky := &flakyBase{base: http.DefaultTransport}
	flaky.n.Store(2)
	tr := newTransport(t, u, jongler.WithBaseTransport(flaky), noWait)
	resp, err := tr.RoundTrip(mustRequest(t, u.URL+genPath))
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); got != "ok" {
		t.Fatalf("got %q", got)
	}

	dead := &flakyBase{base: http.DefaultTransport}
	dead.n.Store(100)
	tr = newTransport(t, u, jongler.WithBaseTransport(dead), noWait, jongler.WithMaxRetries(2))
	_, err = tr.RoundTrip(mustRequest(t, u.URL+genPath))
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("err = %v, want the transport error", err)
	}
	if tries := 100 - dead.n.Load(); tries != 3 {
		t.Fatalf("%d sends, want 3 (1 + 2 retries)", tries)
	}
	ks, _ := tr.KeyStates(context.Background())
	if len(ks.Vacant) != 3 {
		t.Fatalf("transport errors changed key states: %+v", ks)
	}
}

// countingBody counts closes, like golang.org/x/oauth2's tests.
type countingBody struct {
	io.Reader
	closes atomic.Int32
}

func (c *countingBody) Close() error { c.closes.Add(1); return nil }

func TestRequestBodyClosedOnEveryPath(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.WriteHeader(429) })
	cases := map[string]func(t *testing.T) (*jongler.Transport, string){
		"rotation": func(t *testing.T) (*jongler.Transport, string) { return newTransport(t, u), u.URL + genPath },
		"foreign host": func(t *testing.T) (*jongler.Transport, string) {
			return newTransport(t, u), "http://127.0.0.1:1/x"
		},
		"transport error": func(t *testing.T) (*jongler.Transport, string) {
			f := &flakyBase{base: http.DefaultTransport}
			f.n.Store(100)
			return newTransport(t, u, jongler.WithBaseTransport(f), jongler.WithMaxRetries(-1)), u.URL + genPath
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			tr, url := mk(t)
			body := &countingBody{Reader: bytes.NewReader([]byte("{}"))}
			req, _ := http.NewRequest(http.MethodPost, url, body)
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
			if n := body.closes.Load(); n < 1 {
				t.Fatal("request body not closed")
			}
		})
	}
}

// TestWaitsNeverOutlastTheCaller: a wait the request's deadline cannot
// outlast is not begun, and a resend wait beyond every bound is not either;
// the upstream's answer comes back at once instead.
func TestWaitsNeverOutlastTheCaller(t *testing.T) {
	t.Run("cooldown past the deadline", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
		})
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "only", Value: "v-only"}),
			jongler.WithPolicy(jongler.StatusPolicy{}))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+genPath, strings.NewReader("{}"))
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("err = %v, want the 429 back at once", err)
		}
		readBody(t, resp)
		if resp.StatusCode != 429 || time.Since(start) > 300*time.Millisecond {
			t.Fatalf("status %d after %v, want the 429 at once", resp.StatusCode, time.Since(start))
		}
	})
	t.Run("resend after an hour", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(503)
			w.Write(fixture(t, "gemini/503-overloaded.json"))
		})
		tr := newTransport(t, u)
		start := time.Now()
		resp, err := tr.RoundTrip(mustRequest(t, u.URL+genPath))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != 503 || time.Since(start) > time.Second || len(u.requests()) != 1 {
			t.Fatalf("status %d after %v and %d sends, want the 503 at once", resp.StatusCode, time.Since(start), len(u.requests()))
		}
	})
}

// TestRefusalsAreBounded: a policy whose cooldowns end before they begin
// (or clocks that disagree) must not make one request loop on the
// upstream for ever; a hostile review saw 468,239 attempts for one request.
func TestRefusalsAreBounded(t *testing.T) {
	var hits atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		hits.Add(1)
		w.WriteHeader(http.StatusTooManyRequests)
	})
	past := jongler.PolicyFunc(func(a *jongler.Answer) jongler.Verdict {
		return jongler.Verdict{Action: jongler.ActionLockdown, Until: a.Now.Add(-time.Second), Reason: "429"}
	})
	tr := newTransport(t, u, jongler.WithPolicy(past))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL+"/v1beta/models/m:generateContent", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("err %v (after %d attempts), want the last 429", err, hits.Load())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n, max := hits.Load(), int64(4*len(testKeys)+4); n > max {
		t.Fatalf("%d attempts for one request, want at most %d", n, max)
	}
}
