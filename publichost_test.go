package jongler_test

import (
	"bytes"
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
	// Another host is none of the transport's business: no warning.
	logs.Reset()
	req, _ := http.NewRequest(http.MethodGet, "https://example.com/x", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if logs.Len() != 0 {
		t.Fatalf("logged %s for another host", logs.String())
	}
}
