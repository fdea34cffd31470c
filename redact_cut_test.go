package jongler_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestLongOrCutErrorAnswersRedacted: an error answer too long to read into
// memory (over 1 MiB), or cut short by the upstream, was handed back as
// the upstream sent it, key and all, where the package promises that an
// error answer's body never shows the key. With the key in each slot the
// caller reads the placeholder where the key was, and the key is free
// again at once.
func TestLongOrCutErrorAnswersRedacted(t *testing.T) {
	for _, secret := range redactSecrets {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			switch r.URL.Path {
			case "/long":
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"message":"bad key %s (%s)"}}`, key, url.QueryEscape(key))
				w.Write([]byte(strings.Repeat(" ", 2<<20)))
			case "/cut":
				w.Header().Set("Content-Length", "100000")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"message":"bad key %s"}}`, key)
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // the connection goes down mid-body
			}
		})
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}))
		for _, path := range []string{"/long", "/cut"} {
			for _, slot := range []string{"header", "query"} {
				req, _ := http.NewRequest(http.MethodGet, u.URL+path, nil)
				if slot == "header" {
					req.Header.Set("x-goog-api-key", "placeholder")
				} else {
					req.URL.RawQuery = "key=placeholder"
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				data, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if showsSecret(string(data), secret) {
					t.Errorf("%s %s: the body shows the key: %.200s", path, slot, data)
				}
				if rerr != nil && showsSecret(rerr.Error(), secret) {
					t.Errorf("%s %s: the body's error shows the key: %v", path, slot, rerr)
				}
				if !strings.Contains(string(data), "bad key placeholder") {
					t.Errorf("%s %s: body %.200q, want the placeholder where the key was", path, slot, data)
				}
			}
		}
	}
}
