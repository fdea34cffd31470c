package jongler_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestRequestWithoutHeader: a request made by hand with no Header map,
// given to RoundTrip directly (no Client to add one), gets the key, and
// the caller's request stays without a map.
func TestRequestWithoutHeader(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Goog-Api-Key")
	}))
	defer srv.Close()
	tr, err := jongler.NewTransport(gem, jongler.WithKeys(jongler.Key{Name: "k", Value: "nil-header-secret"}),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	u, _ := url.Parse(srv.URL + genPath)
	req := &http.Request{Method: http.MethodGet, URL: u}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if k := <-got; k != "nil-header-secret" {
		t.Fatalf("upstream got key %q", k)
	}
	if req.Header != nil {
		t.Fatalf("the caller's request was given a header: %v", req.Header)
	}
}
