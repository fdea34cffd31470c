package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// TestProxyRedactsKeysNotLeased: a hostile upstream that echoes, not the
// key it was sent, but another key of the pool, or the key of another
// connector the same proxy serves (transports of one lease group, as
// serve's), raw, percent-encoded or JSON-escaped, in a successful body
// (whole or streamed), in a header, in a trailer or in an error answer,
// hands none of them to the token holder.
func TestProxyRedactsKeysNotLeased(t *testing.T) {
	const (
		own     = "gemini-key-one-0c1d2e3f4a5b"
		sibling = "gemini-key-two-9a8b7c6d5e4f"
		foreign = "sk-openai-key-77e1f2a3b4c5d6"
	)
	echo := func(w http.ResponseWriter, r *http.Request) {
		// Whatever key came, the answer shows the others.
		if r.Header.Get("X-Goog-Api-Key") != own {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("X-Echo", "k="+url.QueryEscape(sibling))
		w.Header().Set("X-"+foreign, "1")
		w.Header().Set("Trailer", "X-Sibling")
		status := http.StatusOK
		if strings.Contains(r.URL.Path, "fail") {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		for _, part := range []string{`{"a":"` + sibling[:9], sibling[9:] + `","b":"`, strings.ReplaceAll(foreign, "-", `\u002d`), `","c":"` + url.QueryEscape(url.QueryEscape(foreign)) + `"}`} {
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sibling", sibling)
	}
	up := httptest.NewServer(http.HandlerFunc(echo))
	t.Cleanup(up.Close)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
	t.Cleanup(other.Close)

	group := jongler.NewLeaseGroup()
	state := t.TempDir()
	gem, err := jongler.NewTransport(gemini, jongler.WithKeys(jongler.Key{Name: "one", Value: own}),
		jongler.WithStateDir(state), jongler.WithBaseURL(up.URL), jongler.WithNoKeyAnswer(), jongler.WithLeaseGroup(group))
	if err != nil {
		t.Fatal(err)
	}
	// The sibling is in the pool of another transport of the connector's
	// fleet: here, one more key the process knows.
	oai, err := jongler.NewTransport(jongler.ConnectorOpenAI, jongler.WithKeys(jongler.Key{Name: "o1", Value: foreign}, jongler.Key{Name: "two", Value: sibling}),
		jongler.WithStateDir(state), jongler.WithBaseURL(other.URL), jongler.WithNoKeyAnswer(), jongler.WithLeaseGroup(group))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gem.CloseIdleConnections)
	t.Cleanup(oai.CloseIdleConnections)
	h, err := proxy.New([]*jongler.Transport{gem, oai}, proxy.WithTokens(token))
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(h)
	t.Cleanup(ps.Close)

	for _, path := range []string{"/gemini" + genPath, "/gemini/v1beta/models/fail:generateContent"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", ps.URL+path, strings.NewReader(genBody))
		req.Header.Set("x-goog-api-key", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var wire strings.Builder
		resp.Header.Write(&wire)
		body, _ := io.ReadAll(bufio.NewReader(resp.Body))
		resp.Body.Close()
		resp.Trailer.Write(&wire)
		wire.Write(body)
		text := strings.ToLower(wire.String())
		for _, k := range []string{own, sibling, foreign} {
			for _, form := range []string{k, url.QueryEscape(k), url.QueryEscape(url.QueryEscape(k)), strings.ReplaceAll(k, "-", `\u002d`), k[9:]} {
				if strings.Contains(text, strings.ToLower(form)) {
					t.Errorf("%s: the client read %q of a key:\n%s", path, form, wire.String())
				}
			}
		}
		if !strings.Contains(string(body), `"a":"REDACTED"`) {
			t.Errorf("%s: body %s", path, body)
		}
	}
}
