package jongler_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/codingtest"
	"github.com/api-jongler/jongler/internal/transporttest"
)

// sendPlaceholder sends a request for path through tr with the
// placeholder in the header slot, and returns the answer or the error.
func sendPlaceholder(t *testing.T, tr http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("x-goog-api-key", "placeholder")
	return tr.RoundTrip(req)
}

// TestEncodedErrorAnswersRedacted: an error answer (or a redirect's body)
// that echoes the key under a content coding net/http does not undo
// (deflate, x-gzip, gzip twice, br, zstd, stacked) had the key looked for
// in its compressed bytes, and came back encoded, key and all. It now
// comes back decoded, without Content-Encoding, the placeholder where the
// key was.
func TestEncodedErrorAnswersRedacted(t *testing.T) {
	for _, secret := range redactSecrets {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
			w.Header().Set("Content-Encoding", codingtest.Header(r.URL.Query().Get("coding")))
			status := http.StatusBadRequest
			if r.URL.Path == "/moved" {
				w.Header().Set("Location", "/elsewhere")
				status = http.StatusFound
			}
			w.WriteHeader(status)
			w.Write(codingtest.Encode(`{"error":"bad key `+key+`"}`, r.URL.Query().Get("coding")))
		})
		tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}))
		for _, coding := range codingtest.Decodable {
			for _, path := range []string{genPath, "/moved"} {
				resp, err := sendPlaceholder(t, tr, u.URL+path+"?coding="+strings.ReplaceAll(coding, " ", "+"))
				if err != nil {
					t.Fatalf("%s %s: %v", coding, path, err)
				}
				body := readBody(t, resp)
				if ce := resp.Header.Get("Content-Encoding"); ce != "" {
					t.Errorf("%s %s: Content-Encoding %q came back: the body was not decoded", coding, path, ce)
				}
				if body != `{"error":"bad key placeholder"}` || showsSecret(body, secret) {
					t.Errorf("%s %s: %d %q, want the placeholder decoded", coding, path, resp.StatusCode, body)
				}
			}
		}
	}
}

// TestUndecodableErrorAnswerFails: an error answer in a content coding the
// transport cannot undo could show the key to a caller that can: the
// caller gets an error naming the coding instead, without the key.
func TestUndecodableErrorAnswerFails(t *testing.T) {
	secret := redactSecrets[0]
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		w.Header().Set("Content-Encoding", r.URL.Query().Get("coding"))
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"bad key `+key+`"}`)
	})
	tr := newTransport(t, u, jongler.WithKeys(jongler.Key{Name: "k", Value: secret}))
	for _, coding := range codingtest.Undecodable {
		resp, err := sendPlaceholder(t, tr, u.URL+genPath+"?coding="+strings.ReplaceAll(coding, " ", "+"))
		if err == nil {
			t.Errorf("%s: %d %q, want an error", coding, resp.StatusCode, readBody(t, resp))
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "content coding") || !strings.Contains(msg, `"`+strings.SplitN(coding, ",", 2)[0]) {
			t.Errorf("%s: %v, want an error naming the coding", coding, err)
		}
		if showsSecret(err.Error(), secret) {
			t.Errorf("%s: the error shows the key: %v", coding, err)
		}
	}
	transporttest.WaitNoneInFlight(t, tr) // each refused answer's key rests, then serves
}
