package jongler_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/hashicorp/go-retryablehttp"
)

// TestWithKeysEmptyIsAnError: an empty key set given on purpose must not
// fall back to the INI file's keys.
func TestWithKeysEmptyIsAnError(t *testing.T) {
	ini := filepath.Join(t.TempDir(), "k.ini")
	if err := os.WriteFile(ini, []byte("[generativelanguage.googleapis.com]\nk1 = AIza-from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(jongler.ConfigEnv, ini)
	_, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(), jongler.WithStore(jongler.NewMemoryStore()))
	if err == nil || !strings.Contains(err.Error(), "WithKeys") {
		t.Fatalf("WithKeys() = %v, want an error naming WithKeys", err)
	}
	var none []jongler.Key
	if _, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(none...), jongler.WithStore(jongler.NewMemoryStore())); err == nil {
		t.Fatal("WithKeys(nil...) fell back to the INI file")
	}
	// Without the option, the file is read.
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithStore(jongler.NewMemoryStore()))
	if err != nil || len(tr.KeyNames()) != 1 {
		t.Fatalf("keys from the INI file: %v, %v", tr, err)
	}
}

// TestConnectorAliases: the bundled short names work wherever a connector
// name does, and the transport reports the canonical name.
func TestConnectorAliases(t *testing.T) {
	for alias, want := range map[string]string{
		"gemini":                       jongler.ConnectorGemini,
		"hf":                           jongler.ConnectorHuggingFace,
		jongler.ConnectorGemini:        jongler.ConnectorGemini,
		jongler.ConnectorHTTPBin:       jongler.ConnectorHTTPBin,
		"api-inference.huggingface.co": jongler.ConnectorHuggingFaceInference,
	} {
		c, err := jongler.LookupConnector(alias, "")
		if err != nil || c.Name != want {
			t.Errorf("LookupConnector(%q) = %q, %v; want %q", alias, c.Name, err, want)
		}
		tr, err := jongler.NewTransport(alias, jongler.WithKeys(jongler.Key{Name: "k", Value: "v-secret"}), jongler.WithStore(jongler.NewMemoryStore()))
		if err != nil || tr.Connector().Name != want {
			t.Errorf("NewTransport(%q): %v", alias, err)
		}
	}
	if _, err := jongler.LookupConnector("gemni", ""); err == nil || !strings.Contains(err.Error(), "known connectors") {
		t.Errorf("a typo: %v", err)
	}
}

// TestTransportCloseFreesItsStore: a transport that opened its own file
// store frees its mapping on Close, at once, without waiting for a GC.
func TestTransportCloseFreesItsStore(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts mappings in /proc/self/maps")
	}
	dir := t.TempDir()
	count := func() int {
		data, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		// This test's mappings only: other tests' stores may be
		// collected, and unmapped, meanwhile.
		return strings.Count(string(data), filepath.Join(dir, "")+"/")
	}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {})
	before := count()
	var trs []*jongler.Transport // kept reachable: only Close may free them
	for range 20 {
		tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(testKeys)...), jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Get(u.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		trs = append(trs, tr)
	}
	if n := count() - before; n < 20 {
		t.Fatalf("%d mappings for 20 live transports: the test counts nothing", n)
	}
	for _, tr := range trs {
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := count() - before; n != 0 {
		t.Fatalf("%d use.table mappings left after Close", n)
	}
	runtime.KeepAlive(trs)
}

// TestFileStoreCloseWaitsForLeases: a store closed while a lease is held
// keeps the mapping until the lease ends, then frees it.
func TestFileStoreCloseWaitsForLeases(t *testing.T) {
	ctx := context.Background()
	s, err := jongler.NewFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx, "c", []string{"k1"}, 1)
	if err != nil || l == nil {
		t.Fatalf("Acquire: %v, %v", l, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Releasing touches the use table: it must still be mapped.
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// lossyStore is a MemoryStore whose leases can be lost on command, as a
// networked store's are when their TTL lapses.
type lossyStore struct {
	*jongler.MemoryStore
	lost chan struct{}
}

type lossyLease struct {
	jongler.Lease
	lost chan struct{}
}

func (l lossyLease) Lost() <-chan struct{} { return l.lost }

func (s lossyStore) Acquire(ctx context.Context, c string, keys []string, slots int) (jongler.Lease, error) {
	l, err := s.MemoryStore.Acquire(ctx, c, keys, slots)
	if l == nil || err != nil {
		return l, err
	}
	return lossyLease{l, s.lost}, nil
}

// TestLeaseLostCancelsTheRequest: when the store loses the lease, the
// request in flight is cancelled with ErrLeaseLost.
func TestLeaseLostCancelsTheRequest(t *testing.T) {
	started := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		close(started)
		<-r.Context().Done() // a long answer, until the client gives up
	})
	s := lossyStore{jongler.NewMemoryStore(), make(chan struct{})}
	tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(testKeys)...), jongler.WithStore(s), jongler.WithBaseURL(u.URL), jongler.WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-started
		close(s.lost)
	}()
	req, _ := http.NewRequest(http.MethodGet, u.URL+"/slow", nil)
	_, err = tr.RoundTrip(req)
	if !errors.Is(err, jongler.ErrLeaseLost) {
		t.Fatalf("err = %v, want ErrLeaseLost", err)
	}
	if strings.Contains(err.Error(), "val-") {
		t.Fatalf("error shows a key: %v", err)
	}
	if n, _ := s.InFlight(context.Background(), gem, tr.KeyNames(), 1); len(n) != 0 {
		t.Fatalf("leases still held: %v", n)
	}
}

// TestBackoffGetsRealBounds: go-retryablehttp's functions, as WithBackoff
// recommends, are given real bounds, not zeros.
func TestBackoffGetsRealBounds(t *testing.T) {
	for name, b := range map[string]jongler.Backoff{
		"DefaultBackoff":      retryablehttp.DefaultBackoff,
		"LinearJitterBackoff": retryablehttp.LinearJitterBackoff,
		// Retry-After on 429 and 503, else linear jitter: given the bounds.
		"RateLimitLinearJitterBackoff": retryablehttp.RateLimitLinearJitterBackoff,
	} {
		t.Run(name, func(t *testing.T) {
			var waits []time.Duration
			var fails atomic.Int32
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
				if fails.Add(1) <= 2 {
					w.WriteHeader(http.StatusServiceUnavailable)
					w.Write([]byte(`{"error":{"code":503,"status":"UNAVAILABLE","message":"overloaded"}}`))
				}
			})
			clock := &recordingClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waits: &waits}
			tr, err := jongler.NewTransport(gem, jongler.WithKeys(keyList(testKeys)...), jongler.WithStore(jongler.NewMemoryStore()),
				jongler.WithBaseURL(u.URL), jongler.WithBackoff(b), jongler.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, u.URL+"/v1beta/models/m:generateContent", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
			resp.Body.Close()
			if len(waits) != 2 {
				t.Fatalf("waits %v, want 2", waits)
			}
			// The linear ones scale both bounds by the attempt: attempt i
			// (from 0) waits within [200ms, 5s] × (i+1) at most.
			for i, w := range waits {
				if w < 200*time.Millisecond || w > time.Duration(i+1)*5*time.Second {
					t.Errorf("wait %d: %v outside [200ms, %v]", i, w, time.Duration(i+1)*5*time.Second)
				}
			}
		})
	}
}

// recordingClock advances by each Sleep at once and records it.
type recordingClock struct {
	t     time.Time
	waits *[]time.Duration
}

func (c *recordingClock) Now() time.Time { return c.t }

func (c *recordingClock) Sleep(ctx context.Context, d time.Duration) error {
	*c.waits = append(*c.waits, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}
