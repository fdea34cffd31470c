package jongler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
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
