package proxy_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUnaskedUpgradeRefused: an upstream switching protocols (101) when
// the request asked for none, or for another protocol, gets the client a
// 502, and the key is free after the rest of a request cut short: the
// upgraded connection, which holds the key's lease, is closed, not left
// to the garbage collector.
func TestUnaskedUpgradeRefused(t *testing.T) {
	ps, tr, _ := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/ws") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"candidates":[]}`))
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		// Held open until the proxy lets go, or the test is long over.
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		conn.Read(make([]byte, 1))
	})
	for _, asked := range []string{"", "h2c"} {
		req, _ := http.NewRequest("GET", ps.URL+"/ws", nil)
		req.Header.Set("x-goog-api-key", token)
		if asked != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", asked)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("upgrade %q asked, websocket given: status %d, want 502", asked, resp.StatusCode)
		}
		// The key rests 100 ms, as after any request cut short (the
		// upstream may be at work still), then is free.
		for end := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
			ks, err := tr.KeyStates(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if ks.Keys["k1"].InFlight == 0 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("upgrade %q asked, websocket given: the key is still in flight a second after the 502", asked)
			}
		}
		start := time.Now()
		r2, body := do(t, "POST", ps.URL+genPath, token, genBody)
		if r2.StatusCode != 200 || time.Since(start) > 2*time.Second {
			t.Fatalf("the next request: %d %s after %v; want 200 at once", r2.StatusCode, body, time.Since(start))
		}
	}
}
