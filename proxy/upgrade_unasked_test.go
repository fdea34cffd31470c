package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestUnaskedUpgradeFreesKey: an upstream that answers 101 Switching
// Protocols to a request that asked for no upgrade (or for another
// protocol) gets the client a 502, and its key is free at once: the
// upgraded connection nobody will use is closed, not left holding the
// lease until the garbage collector finds it.
func TestUnaskedUpgradeFreesKey(t *testing.T) {
	var mu sync.Mutex
	var conns []interface{ Close() error }
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Unasked") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true}`))
			return
		}
		c, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + r.Header.Get("X-Unasked") + "\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
		mu.Lock()
		conns = append(conns, c) // held open: the upstream never hangs up
		mu.Unlock()
	})
	ps := recorderProxy(t, rec, &syncBuffer{}, []jongler.Option{jongler.WithMaxWait(2 * time.Second)})
	send := func(unasked, upgrade string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", ps.URL+genPath, strings.NewReader(genBody))
		req.Header.Set("X-Goog-Api-Key", token)
		if unasked != "" {
			req.Header.Set("X-Unasked", unasked)
		}
		if upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", upgrade)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// One for each of the three keys: two asked nothing, one asked for
	// another protocol.
	for _, c := range []struct{ unasked, upgrade string }{{"websocket", ""}, {"websocket", ""}, {"h2c", "websocket"}} {
		if got := send(c.unasked, c.upgrade); got != http.StatusBadGateway {
			t.Errorf("101 %s to a request asking for %q: %d, want 502", c.unasked, c.upgrade, got)
		}
	}
	if got := send("", ""); got != http.StatusOK {
		t.Fatalf("the next request: %d, want 200 at once: the keys of the refused upgrades are still leased", got)
	}
}
