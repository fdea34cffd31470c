package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTokenInMethodRefused: the token as the request's method (`curl -X
// "$TOKEN"`), in any case, percent-encoded, or inside a longer word, never
// goes upstream, where it would be the method of the request sent, nor
// into the access log: 400 with a credential, 401 without.
func TestTokenInMethodRefused(t *testing.T) {
	for _, c := range []struct {
		name, method string
		cred         bool
		status       int
	}{
		{"raw", token, true, http.StatusBadRequest},
		{"upper case", strings.ToUpper(token), true, http.StatusBadRequest},
		{"inside a word", "POST" + token + "X", true, http.StatusBadRequest},
		{"escaped", escapeAll(token, false), true, http.StatusBadRequest},
		{"escaped twice, lower hex", escapeTwice(token, true), true, http.StatusBadRequest},
		{"raw, no credential", token, false, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			logs := &syncBuffer{}
			ps := recorderProxy(t, rec, logs, nil)
			req, err := http.NewRequest(c.method, ps.URL+genPath, strings.NewReader(genBody))
			if err != nil {
				t.Fatal(err)
			}
			if c.cred {
				req.Header.Set("X-Goog-Api-Key", token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, answer)
			}
			for _, r := range rec.all() {
				t.Errorf("a request went upstream, its method %q", r.Method)
			}
			if !strings.Contains(logs.String(), `"msg":"request"`) {
				t.Fatalf("no access log line:\n%s", logs)
			}
			if holdsTokenForm(logs.String(), token) {
				t.Errorf("the log holds the token:\n%s", logs)
			}
			if holdsTokenForm(string(answer), token) {
				t.Errorf("the answer holds the token: %s", answer)
			}
		})
	}
}
