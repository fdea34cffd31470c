package jongler_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// pausingStore stops the first Acquire until told to go on, so that a test
// can change the shared state between a lease's Load and its Acquire.
type pausingStore struct {
	jongler.Store
	entered chan struct{}
	proceed chan struct{}
	once    sync.Once
}

func (s *pausingStore) Acquire(ctx context.Context, connector string, keys []string, slots int) (jongler.Lease, error) {
	s.once.Do(func() {
		close(s.entered)
		<-s.proceed
	})
	return s.Store.Acquire(ctx, connector, keys, slots)
}

// TestLeaseHonoursLockdownRecordedBeforeAcquire: request B finds a key
// usable, but before B acquires it request A (another process, sharing the
// state directory) gets a 429 with that key, records the lockdown and
// releases the key. B must not then send with the key.
func TestLeaseHonoursLockdownRecordedBeforeAcquire(t *testing.T) {
	secret := xpSecret(t, "only")
	held := make(chan struct{})
	answer := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("x-goog-api-key") != secret {
			t.Errorf("request without the key")
		}
		if requests.Add(1) > 1 {
			t.Errorf("the key was used again while in lockdown")
			w.WriteHeader(http.StatusOK)
			return
		}
		close(held)
		<-answer
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()

	dir := t.TempDir()
	keys := jongler.WithKeys(keyList(map[string]string{"only": secret})...)
	a, err := jongler.NewTransport("generativelanguage.googleapis.com", keys, jongler.WithStateDir(dir), jongler.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer a.CloseIdleConnections()
	fs, err := jongler.NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := &pausingStore{Store: fs, entered: make(chan struct{}), proceed: make(chan struct{})}
	b, err := jongler.NewTransport("generativelanguage.googleapis.com", keys, jongler.WithStore(ps), jongler.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer b.CloseIdleConnections()

	send := func(rt http.RoundTripper) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1beta/models/m:generateContent", strings.NewReader("{}"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	aDone := make(chan int)
	go func() {
		code, err := send(a)
		if err != nil {
			t.Errorf("A: %v", err)
		}
		aDone <- code
	}()
	<-held // A holds the key at the upstream.

	bDone := make(chan error)
	go func() {
		code, err := send(b)
		if err == nil {
			t.Errorf("B was answered %d; want no key", code)
		}
		bDone <- err
	}()
	<-ps.entered // B has loaded the state and is about to acquire.

	close(answer) // A gets its 429, records the lockdown, releases the key.
	if code := <-aDone; code != http.StatusTooManyRequests {
		t.Errorf("A: status %d; want 429 (its only key is cooling down)", code)
	}
	close(ps.proceed)
	err = <-bDone
	var nk *jongler.NoKeyError
	if !errors.As(err, &nk) || nk.RetryAfter < 50*time.Second {
		t.Errorf("B: %v; want a NoKeyError with the key back in about 60s", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the upstream got %d requests; want 1", n)
	}
}
