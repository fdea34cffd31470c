package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// TestAnswerLength: an answer announcing its length, up to 64 KiB, is
// handed on with its length (the key replaced, the length counted again),
// not in chunks; a longer one, or one of unknown length, streams in
// chunks; the key is replaced in every one, and one cut short fails the
// client's read without showing the key.
func TestAnswerLength(t *testing.T) {
	key := testKeys[0]
	const placeholder = "apijongler" // what the proxy sends in place of the client's token
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("x-goog-api-key")
		body := `{"echo":"` + k + `"}`
		switch r.URL.Query().Get("kind") {
		case "plain":
			body = `{"candidates":[]}`
		case "large":
			body = k + strings.Repeat("x", 100<<10) + k
		case "unknown":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: "+k+"\n\n")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "data: done\n\n")
			return
		case "cut":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			part := k + strings.Repeat("y", 480)
			fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n%s", part)
			brw.Flush()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	}))
	defer up.Close()
	tr, err := jongler.NewTransport(gemini, jongler.WithKeys(jongler.Key{Name: key.Label, Value: key.Value}),
		jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(up.URL), jongler.WithNoKeyAnswer())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h, err := proxy.New([]*jongler.Transport{tr}, proxy.WithTokens(token))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()

	for _, tc := range []struct {
		kind    string
		chunked bool
		want    string // the body, or "" to check its length only
	}{
		{"plain", false, `{"candidates":[]}`},
		{"echo", false, `{"echo":"` + placeholder + `"}`}, // as the client sent it
		{"large", true, ""},
		{"unknown", true, "data: " + placeholder + "\n\ndata: done\n\n"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			resp, body := do(t, "POST", front.URL+genPath+"?kind="+tc.kind, token, genBody)
			noSecrets(t, "the answer", body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
			if chunked != tc.chunked {
				t.Errorf("chunked %v (Transfer-Encoding %v, Content-Length %d), want chunked %v", chunked, resp.TransferEncoding, resp.ContentLength, tc.chunked)
			}
			if !tc.chunked && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
			}
			if tc.want != "" && body != tc.want {
				t.Errorf("body %q, want %q", body, tc.want)
			}
			if tc.kind == "large" && (len(body) != 100<<10+2*len(placeholder) || strings.Count(body, placeholder) != 2) {
				t.Errorf("large body: %d bytes, %d placeholders", len(body), strings.Count(body, placeholder))
			}
		})
	}

	t.Run("cut", func(t *testing.T) {
		req, _ := http.NewRequest("POST", front.URL+genPath+"?kind=cut", strings.NewReader(genBody))
		req.Header.Set("x-goog-api-key", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		noSecrets(t, "the cut answer", string(data))
		if err == nil {
			t.Errorf("a cut answer read without error (%d bytes)", len(data))
		}
	})
}
