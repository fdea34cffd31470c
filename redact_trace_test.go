package jongler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestClientTraceSeesNoKey: the caller's httptrace hooks (otelhttptrace
// records WroteHeaderField as span attributes, redacting Authorization but
// not x-goog-api-key; httputil.ReverseProxy forwards what Got1xxResponse
// gets, such as a 103 Early Hints' Link) were handed the leased key as
// written on the wire and as an upstream echoed it in an informational
// answer. They get the caller's placeholder instead.
func TestClientTraceSeesNoKey(t *testing.T) {
	for _, secret := range redactSecrets {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			w.Header().Set("Link", "</style.css?key="+url.QueryEscape(key)+">; rel=preload")
			w.Header().Set("X-Echo", key)
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Header().Del("X-Echo")
			w.Write([]byte("ok"))
		})
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}))
		for _, slot := range []string{"header", "bearer", "query"} {
			var mu sync.Mutex
			var seen []string
			note := func(s string) {
				mu.Lock()
				seen = append(seen, s)
				mu.Unlock()
			}
			trace := &httptrace.ClientTrace{
				WroteHeaderField: func(k string, v []string) { note(k + ": " + strings.Join(v, ",")) },
				Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					for k, v := range h {
						note(fmt.Sprintf("%d %s: %s", code, k, strings.Join(v, ",")))
					}
					return nil
				},
			}
			ctx := httptrace.WithClientTrace(context.Background(), trace)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL+genPath, nil)
			switch slot {
			case "header":
				req.Header.Set("x-goog-api-key", "placeholder")
			case "bearer":
				req.Header.Set("Authorization", "Bearer placeholder")
			case "query":
				req.URL.RawQuery = "key=placeholder"
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			mu.Lock()
			all := strings.Join(seen, "\n")
			mu.Unlock()
			if showsSecret(all, secret) {
				t.Errorf("%s: the caller's trace saw the key:\n%s", slot, all)
			}
			if !strings.Contains(all, "103 Link") {
				t.Errorf("%s: the trace saw no 103 answer:\n%s", slot, all)
			}
		}
	}
}
