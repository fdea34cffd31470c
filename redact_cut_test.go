package jongler_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/redact"
	"github.com/api-jongler/jongler/internal/transporttest"
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

// TestCutErrorAnswerHoldsNoHalfKey: an error answer cut at the 1 MiB the
// transport reads, or broken off by the upstream, had its key replaced
// only where the whole key was there: a key straddling the cut left its
// first half at the end of the body. The caller now reads the body up to
// the key's start, then the error saying it was cut.
func TestCutErrorAnswerHoldsNoHalfKey(t *testing.T) {
	const prefix = `{"error":{"message":"`
	for _, secret := range redactSecrets {
		half := len(secret) / 2
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			switch r.URL.Path {
			case "/long":
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, prefix+strings.Repeat("x", redact.MaxBody-len(prefix)-half)+key+strings.Repeat("x", 100)+`"}}`)
			case "/broken":
				w.Header().Set("Content-Length", "100000")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, prefix+"bad key "+key[:half])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // the connection goes down mid-key
			}
		})
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}))
		for _, path := range []string{"/long", "/broken"} {
			resp, err := sendPlaceholder(t, tr, u.URL+path)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			data, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				t.Errorf("%s: no error after the body: want one saying it was cut", path)
			}
			if !strings.HasPrefix(string(data), prefix) || path == "/long" && len(data) < redact.MaxBody-len(secret) {
				t.Errorf("%s: %d bytes, %.40q: want the body up to the key", path, len(data), data)
			}
			if strings.Contains(string(data), secret[:half]) {
				t.Errorf("%s: the body holds the first half of the key: ...%q", path, data[max(0, len(data)-40):])
			}
		}
		if n := transporttest.InFlight(t, tr); n != 0 {
			t.Errorf("%d leases held after the cut answers", n)
		}
	}
}
