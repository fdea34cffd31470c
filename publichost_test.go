package jongler_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestPublicHostWarning: a request for the connector's public host while
// WithBaseURL points elsewhere goes out bare, and a warning naming the
// origin served is logged once.
func TestPublicHostWarning(t *testing.T) {
	var logs bytes.Buffer
	var sent []*http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r)
		return &http.Response{StatusCode: 403, Body: io.NopCloser(strings.NewReader(`{}`)), Header: http.Header{}, Request: r}, nil
	})
	tr, err := jongler.NewTransport(jongler.ConnectorGemini,
		jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"]}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL("http://127.0.0.1:8089"),
		jongler.WithBaseTransport(base),
		jongler.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, "https://generativelanguage.googleapis.com"+genPath, strings.NewReader("{}"))
		req.Header.Set("x-goog-api-key", "placeholder")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(sent) != 2 || sent[0].Header.Get("x-goog-api-key") != "" {
		t.Fatalf("%d sent, key header %q: want the requests sent bare", len(sent), sent[0].Header.Get("x-goog-api-key"))
	}
	out := logs.String()
	if strings.Count(out, "public host") != 1 || !strings.Contains(out, "served_origin=http://127.0.0.1:8089") ||
		!strings.Contains(out, "level=WARN") || strings.Contains(out, testKeys["key1"]) {
		t.Fatalf("log:\n%s\nwant one warning naming http://127.0.0.1:8089", out)
	}
}

// TestForeignOriginWarning: a request for an origin that is neither the
// connector's nor the base URL's goes out bare, and one warning per origin
// names both the origin asked for and the one served, with or without
// WithBaseURL; past a bound, one line says the rest go unnamed.
func TestForeignOriginWarning(t *testing.T) {
	for _, baseURL := range []string{"", "http://127.0.0.1:8089"} {
		var logs bytes.Buffer
		var sent []*http.Request
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = append(sent, r)
			return &http.Response{StatusCode: 403, Body: io.NopCloser(strings.NewReader(`{}`)), Header: http.Header{}, Request: r}, nil
		})
		opts := []jongler.Option{
			jongler.WithKeys(jongler.Key{Name: "key1", Value: testKeys["key1"]}),
			jongler.WithStore(jongler.NewMemoryStore()),
			jongler.WithBaseTransport(base),
			jongler.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		}
		if baseURL != "" {
			opts = append(opts, jongler.WithBaseURL(baseURL))
		}
		tr, err := jongler.NewTransport(jongler.ConnectorGemini, opts...)
		if err != nil {
			t.Fatal(err)
		}
		send := func(u string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("x-goog-api-key", "placeholder")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		send("https://example.com/x")
		send("https://EXAMPLE.com:443/y") // the same origin
		send("http://example.com/x")      // another one
		for _, r := range sent {
			if r.Header.Get("x-goog-api-key") != "" {
				t.Fatalf("base %q: a request for %s went with a credential", baseURL, r.URL)
			}
		}
		out := logs.String()
		served := "served_origin=" + strings.TrimSuffix(tr.BaseURL(), "/")
		if strings.Count(out, "level=WARN") != 2 || strings.Count(out, "request_origin=https://example.com ") != 1 ||
			strings.Count(out, "request_origin=http://example.com ") != 1 || strings.Count(out, served) != 2 {
			t.Fatalf("base %q, log:\n%s\nwant one warning for each of two origins, naming %s", baseURL, out, served)
		}
		// Many origins: each named once, up to a bound, then one line.
		logs.Reset()
		for i := range 200 {
			send(fmt.Sprintf("https://h%d.example.com/x", i))
		}
		if n := strings.Count(logs.String(), "\n"); n < 10 || n > 40 || !strings.Contains(logs.String(), "no more of them are named") {
			t.Fatalf("base %q: %d lines for 200 origins:\n%s", baseURL, n, logs.String())
		}
		tr.Close()
	}
}
