package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/transporttest"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/proxy"
)

const (
	gemini   = "generativelanguage.googleapis.com"
	model    = "gemini-2.5-flash"
	token    = "proxy-token-5b1e0c"
	genPath  = "/v1beta/models/" + model + ":generateContent"
	chatPath = "/v1beta/openai/chat/completions"
)

// testKeys are the keys jonglertest knows and the transport sends.
var testKeys = []jonglertest.Key{
	{Label: "k1", Value: "secret-value-k1-9f3a"},
	{Label: "k2", Value: "secret-value-k2-77c0"},
	{Label: "k3", Value: "secret-value-k3-1d52"},
}

func jKeys(keys []jonglertest.Key) []jongler.Key {
	var out []jongler.Key
	for _, k := range keys {
		out = append(out, jongler.Key{Name: k.Label, Value: k.Value})
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer = transporttest.Buffer

// fixture is a proxy fronting a jonglertest server.
type fixture struct {
	srv   *jonglertest.Server
	tr    *jongler.Transport
	proxy *httptest.Server
	logs  *syncBuffer // the access log and the transport's, JSON
}

type fixtureConfig struct {
	keys   []jonglertest.Key
	models map[string]jonglertest.Quota
	opts   []proxy.Option
	topts  []jongler.Option
	server jonglertest.Config
}

func newFixture(t *testing.T, fc fixtureConfig) *fixture {
	t.Helper()
	if fc.keys == nil {
		fc.keys = testKeys
	}
	cfg := fc.server
	cfg.Keys = fc.keys
	cfg.Models = fc.models
	if cfg.StreamChunks == 0 {
		cfg.StreamChunks = 4
	}
	if cfg.Minute == 0 {
		// Simulated time starts on a whole minute and crawls, so that no
		// quota window ends while a test runs.
		cfg.Start = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		cfg.Minute = time.Hour
	}
	if cfg.StreamGap == 0 {
		cfg.StreamGap = -1
	}
	srv := jonglertest.NewServer(cfg)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	topts := append([]jongler.Option{
		jongler.WithKeys(jKeys(fc.keys)...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(srv.URL),
		jongler.WithNoKeyAnswer(),
		jongler.WithLogger(logger),
	}, fc.topts...)
	tr, err := jongler.NewTransport(gemini, topts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	f.tr = tr
	opts := append([]proxy.Option{proxy.WithTokens(token), proxy.WithAccessLog(logger), proxy.WithErrorLog(logger)}, fc.opts...)
	h, err := proxy.New([]*jongler.Transport{tr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.proxy = httptest.NewServer(h)
	t.Cleanup(f.proxy.Close)
	return f
}

// do sends a request to the proxy with the token in x-goog-api-key (when
// tok is not "") and returns the answer, body read.
func do(t *testing.T, method, url, tok, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("x-goog-api-key", tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

// noSecrets fails if text holds a key value or the token.
func noSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, k := range testKeys {
		if strings.Contains(text, k.Value) {
			t.Errorf("%s holds the value of key %s", what, k.Label)
		}
	}
	if strings.Contains(text, token) {
		t.Errorf("%s holds the proxy token", what)
	}
}

const genBody = `{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}`
