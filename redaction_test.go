package jongler_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// TestAnswerCarriesNoOtherKey: an upstream sent one key that echoes
// another key of the transport's pool (in the status line, a header, a
// redirect's Location, an error answer's body, a trailer) gives the
// caller none: the key sent comes back as the caller's placeholder, the
// other as REDACTED.
func TestAnswerCarriesNoOtherKey(t *testing.T) {
	const one, two = "AIzaSy-first-key-0123456789abcdef", "AIzaSy-second-key-fedcba9876543210"
	other := map[string]string{one: two, two: one}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := other[r.Header.Get("X-Goog-Api-Key")]
		w.Header().Set("X-Echo", o)
		w.Header().Set("Trailer", "X-Late")
		if strings.HasSuffix(r.URL.Path, "/moved") {
			w.Header().Set("Location", "/v1beta/models?key="+url.QueryEscape(o))
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, "see "+o)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"API key `+o+` is not the one sent"}}`)
		w.Header().Set("X-Late", o)
	}))
	defer up.Close()
	tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithBaseURL(up.URL), jongler.WithStateDir(t.TempDir()),
		jongler.WithKeys(jongler.Key{Name: "one", Value: one}, jongler.Key{Name: "two", Value: two}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/v1beta/models/gemini-2.5-flash:generateContent", "/v1beta/moved"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", up.URL+path, strings.NewReader("{}"))
		req.Header.Set("X-Goog-Api-Key", "placeholder")
		resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var all strings.Builder
		resp.Header.Write(&all)
		resp.Trailer.Write(&all)
		all.Write(body)
		for _, k := range []string{one, two} {
			if strings.Contains(all.String(), k) || strings.Contains(all.String(), url.QueryEscape(k)) {
				t.Errorf("%s: the caller reads a key:\n%s", path, all.String())
			}
		}
		if !strings.Contains(all.String(), "REDACTED") {
			t.Errorf("%s: no REDACTED in\n%s", path, all.String())
		}
	}
}
