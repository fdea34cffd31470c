package jongler_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestLeaseGroupCarriesRename: two generations of transports on one store
// and one LeaseGroup, the second naming the first's key otherwise (a
// reload that renamed it): while a stream holds the value under its old
// name, the new name does not lease it; once the stream ends, it does.
// The value is never in flight twice at once upstream.
func TestLeaseGroupCarriesRename(t *testing.T) {
	const value = "AIzaSyRENAMED-0123456789abcdefghijklmn"
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if key != value {
			http.Error(w, "unknown key", http.StatusBadRequest)
			return
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		w.Write([]byte("data: one\n\n"))
		w.(http.Flusher).Flush()
		if strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
			<-release
		}
		w.Write([]byte("data: two\n\n"))
	})
	store, group := jongler.NewMemoryStore(), jongler.NewLeaseGroup()
	gen := func(name string) *jongler.Transport {
		tr, err := jongler.NewTransport(gem, jongler.WithKeys(jongler.Key{Name: name, Value: value}), jongler.WithStore(store),
			jongler.WithLeaseGroup(group), jongler.WithBaseURL(u.URL), jongler.WithMaxRetries(-1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	send := func(ctx context.Context, tr *jongler.Transport, method string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+"/v1beta/models/gemini-2.5-flash:"+method, strings.NewReader("{}"))
		return tr.RoundTrip(req)
	}
	old, renamed := gen("old"), gen("new")
	stream, err := send(context.Background(), old, "streamGenerateContent")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if resp, err := send(ctx, renamed, "generateContent"); err == nil {
		resp.Body.Close()
		t.Error("the new name leased the key while a stream held it under the old name")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the request under the new name: %v; want it to wait until its deadline", err)
	}
	cancel()
	close(release)
	if _, err := io.ReadAll(stream.Body); err != nil {
		t.Fatal(err)
	}
	stream.Body.Close()
	resp, err := send(context.Background(), renamed, "generateContent")
	if err != nil {
		t.Fatalf("after the stream ended, the new name: %v", err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	// And the other way round: the new name holds it, the old one waits.
	resp, err = send(context.Background(), renamed, "generateContent")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if r2, err := send(ctx, old, "generateContent"); err == nil {
		r2.Body.Close()
		t.Error("the old name leased the key while the new name held it")
	}
	resp.Body.Close()
	if m := most.Load(); m > 1 {
		t.Fatalf("the key was in flight %d times at once upstream", m)
	}
}
