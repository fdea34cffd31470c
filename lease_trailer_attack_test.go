package jongler_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/transporttest"
)

// TestTrailersReachTheCaller: trailers an upstream sends after the body,
// declared (HTTP/1.1 chunked) or not (HTTP/2), are in the answer the
// caller holds once its body is read to its end; the lease ends then, and
// a second Close is harmless.
func TestTrailersReachTheCaller(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "http1"
		if h2 {
			name = "http2"
		}
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !h2 {
					w.Header().Set("Trailer", "X-Declared")
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"a":1}`)
				w.(http.Flusher).Flush()
				if h2 {
					w.Header().Set(http.TrailerPrefix+"X-Undeclared", "u")
				} else {
					w.Header().Set("X-Declared", "d")
				}
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			base := srv.Client().Transport.(*http.Transport).Clone()
			base.ForceAttemptHTTP2 = h2
			tr, err := jongler.NewTransport("generativelanguage.googleapis.com", onlyKey,
				jongler.WithStateDir(t.TempDir()), jongler.WithBaseURL(srv.URL), jongler.WithBaseTransport(base))
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(mustRequest(t, srv.URL+genPath))
			if err != nil {
				t.Fatal(err)
			}
			if h2 && resp.ProtoMajor != 2 {
				t.Fatalf("proto %s, want HTTP/2", resp.Proto)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || !strings.Contains(string(body), `"a":1`) {
				t.Fatalf("body %q, %v", body, err)
			}
			want, key := "d", "X-Declared"
			if h2 {
				want, key = "u", "X-Undeclared"
			}
			if got := resp.Trailer.Get(key); got != want {
				t.Errorf("trailer %s = %q after EOF, want %q (trailer %v)", key, got, want, resp.Trailer)
			}
			if n := transporttest.InFlight(t, tr); n != 0 {
				t.Errorf("%d leases held after EOF", n)
			}
			resp.Body.Close()
			resp.Body.Close()
			if n := transporttest.InFlight(t, tr); n != 0 {
				t.Errorf("%d leases held after two closes", n)
			}
		})
	}
}

// TestUndeclaredHTTP1TrailersRedacted: over HTTP/1.1, resp.Trailer is nil
// when the answer comes and net/http fills it at the body's end with the
// trailers the upstream sent, declared or not: an undeclared one echoing
// the key reached the caller as it was. On a 2xx and on a 400 the caller
// reads the placeholder.
func TestUndeclaredHTTP1TrailersRedacted(t *testing.T) {
	for _, secret := range redactSecrets {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			if r.URL.Path != genPath {
				w.WriteHeader(http.StatusBadRequest)
			}
			io.WriteString(w, `{"a":1}`)
			w.(http.Flusher).Flush() // chunked: trailers may follow
			w.Header().Set(http.TrailerPrefix+"X-Echo", "key="+key)
		})
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}))
		for _, path := range []string{genPath, "/fail"} {
			resp, err := sendPlaceholder(t, tr, u.URL+path)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ProtoMajor != 1 {
				t.Fatalf("%s: protocol %s, want HTTP/1.1", path, resp.Proto)
			}
			if body := readBody(t, resp); body != `{"a":1}` {
				t.Fatalf("%s: body %q", path, body)
			}
			if got := resp.Trailer.Get("X-Echo"); got != "key=placeholder" {
				t.Errorf("%s: trailer X-Echo = %q, want key=placeholder", path, got)
			}
		}
	}
}
