package serving

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// TestUpstreamConnectionsReused: serve's handler, as serve builds it
// (Config's options, one request per key), loaded by 32 clients at once
// over 20 rounds, opens no more upstream connections than it has requests
// in flight at once: each answer leaves its connection idle for the next
// request, where http.DefaultTransport's 2 idle connections per host
// would close 30 of them each round.
func TestUpstreamConnectionsReused(t *testing.T) {
	const clients, rounds = 32, 20
	var opened atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates":[]}`)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	up.Start()
	defer up.Close()

	sc := Config{
		Store:    jongler.NewMemoryStore(),
		Logger:   slog.New(slog.DiscardHandler),
		Access:   slog.New(slog.DiscardHandler),
		MaxBody:  proxy.DefaultMaxBodyBytes,
		Leases:   jongler.NewLeaseGroup(),
		Limits:   DefaultLimits(),
		Upstream: UpstreamTransport(DefaultLimits()),
	}
	var keys []jongler.Key
	for i := range clients {
		keys = append(keys, jongler.Key{Name: fmt.Sprintf("k%d", i), Value: fmt.Sprintf("upstream-test-key-%02d", i)})
	}
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, append(sc.TransportOptions(), jongler.WithKeys(keys...), jongler.WithBaseURL(up.URL))...)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h, err := proxy.New([]*jongler.Transport{tr}, sc.ProxyOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()
	ct := &http.Transport{MaxIdleConnsPerHost: clients}
	defer ct.CloseIdleConnections()
	client := &http.Client{Transport: ct}

	for range rounds {
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				resp, err := client.Post(front.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "application/json", strings.NewReader(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
			})
		}
		wg.Wait()
	}
	if n := opened.Load(); n > clients {
		t.Errorf("%d requests, %d at once: %d upstream connections opened, want at most %d", clients*rounds, clients, n, clients)
	}
}

// TestUpstreamTransportSize: the idle connections kept follow the bound
// of connections serve holds; never fewer in all than DefaultTransport's.
func TestUpstreamTransportSize(t *testing.T) {
	for _, tc := range []struct{ conns, perHost, all int }{
		{64, 64, 100},
		{500, 500, 500},
		{0, unboundedIdle, unboundedIdle},
	} {
		tr := UpstreamTransport(Limits{Conns: tc.conns})
		if tr.MaxIdleConnsPerHost != tc.perHost || tr.MaxIdleConns != tc.all {
			t.Errorf("conns %d: %d idle per host, %d in all; want %d, %d", tc.conns, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.perHost, tc.all)
		}
	}
}
