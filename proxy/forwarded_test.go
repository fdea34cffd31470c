package proxy_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/api-jongler/jongler/proxy"
)

// TestTrustedProxies: the access log names the address the connection
// came from, or, when that is a trusted proxy's, the last address of
// X-Forwarded-For not trusted; X-Forwarded-For from anyone else is
// ignored, and never goes upstream.
func TestTrustedProxies(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	h, err := proxy.New(recorderTransport(t, rec), proxy.WithTokens(token),
		proxy.WithAccessLog(slog.New(slog.NewJSONHandler(logs, nil))),
		proxy.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.7:4000", nil, "192.0.2.7"},
		{"192.0.2.7:4000", []string{"203.0.113.9"}, "192.0.2.7"}, // not a trusted proxy: ignored
		{"10.1.2.3:4000", nil, "10.1.2.3"},
		{"10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"10.1.2.3:4000", []string{"198.51.100.1, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"}, // a chain of trusted proxies
		{"10.1.2.3:4000", []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},         // two headers
		{"10.1.2.3:4000", []string{"10.2.2.2, 10.3.3.3"}, "10.2.2.2"},                     // every hop trusted
		{"10.1.2.3:4000", []string{"203.0.113.9, not-an-address"}, "10.1.2.3"},
		{"[::1]:4000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"[::ffff:10.1.2.3]:4000", []string{"203.0.113.9"}, "203.0.113.9"},
	} {
		before := len(accessLines(t, logs.String()))
		r := httptest.NewRequest(http.MethodPost, genPath, strings.NewReader(genBody))
		r.RemoteAddr = c.remote
		r.Header.Set("x-goog-api-key", token)
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		lines := accessLines(t, logs.String())[before:]
		if w.Code != 200 || len(lines) != 1 || lines[0]["client"] != c.want {
			t.Errorf("from %s, X-Forwarded-For %q: %d, logged client %v, want %s", c.remote, c.xff, w.Code, lines, c.want)
		}
	}
	for _, r := range rec.all() {
		if r.Header.Get("X-Forwarded-For") != "" {
			t.Fatalf("X-Forwarded-For went upstream: %v", r.Header)
		}
	}
}
