package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/proxy"
)

// recorder is an upstream that records every request it gets.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newRecorder(t *testing.T, handle http.HandlerFunc) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(context.Background()))
		rec.body = append(rec.body, string(b))
		rec.mu.Unlock()
		if handle != nil {
			handle(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) all() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*http.Request(nil), rec.reqs...)
}

// recorderProxy is a proxy to rec for the Gemini connector with testKeys.
func recorderProxy(t *testing.T, rec *recorder, logs io.Writer, topts []jongler.Option, opts ...proxy.Option) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := recorderTransport(t, rec, append([]jongler.Option{jongler.WithLogger(logger)}, topts...)...)
	h, err := proxy.New(tr, append([]proxy.Option{proxy.WithTokens("other-token-3e9a1f7c", token), proxy.WithAccessLog(logger)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(h)
	t.Cleanup(ps.Close)
	return ps
}

// recorderTransport is a transport for the Gemini connector with testKeys,
// sending to rec.
func recorderTransport(t *testing.T, rec *recorder, topts ...jongler.Option) []*jongler.Transport {
	t.Helper()
	tr, err := jongler.NewTransport(gemini, append([]jongler.Option{
		jongler.WithKeys(jKeys(testKeys)...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(rec.URL),
		jongler.WithNoKeyAnswer(),
	}, topts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return []*jongler.Transport{tr}
}

// httptestServer serves h until the test ends and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ps := httptest.NewServer(h)
	t.Cleanup(ps.Close)
	return ps.URL
}

// headerText is every name and value of h, for looking a secret up.
func headerText(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	return b.String()
}

// TestTokenSlots: the token is taken in each place an API key goes; the
// upstream gets exactly one credential, a key, in the same place, and
// never the token; nor the client's address or hop-by-hop headers.
func TestTokenSlots(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	ps := recorderProxy(t, rec, logs, nil)
	cases := []struct {
		name  string
		query string
		hdr   []string
		slot  string // where the key is, upstream
	}{
		{"x-goog-api-key", "", []string{"X-Goog-Api-Key", token}, "header"},
		{"bearer", "", []string{"Authorization", "Bearer " + token}, "bearer"},
		{"query", "?alt=sse&key=" + token, nil, "query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := append([]string{
				"X-Forwarded-For", "203.0.113.7", "Forwarded", "for=203.0.113.7", "X-Real-Ip", "203.0.113.7",
				"Connection", "X-Hop", "X-Hop", "secret-hop", "Keep-Alive", "timeout=5",
			}, c.hdr...)
			resp, body := do(t, "POST", ps.URL+genPath+c.query, "", genBody, hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			reqs := rec.all()
			r := reqs[len(reqs)-1]
			var found []string
			if v := r.Header.Get("X-Goog-Api-Key"); v != "" {
				found = append(found, "header:"+v)
			}
			if v := r.Header.Get("Authorization"); v != "" {
				found = append(found, "bearer:"+strings.TrimPrefix(v, "Bearer "))
			}
			if v := r.URL.Query().Get("key"); v != "" {
				found = append(found, "query:"+v)
			}
			if len(found) != 1 || !strings.HasPrefix(found[0], c.slot+":secret-value-") {
				t.Fatalf("upstream credentials %q, want one key in the %s slot", found, c.slot)
			}
			if c.query != "" && r.URL.Query().Get("alt") != "sse" {
				t.Fatalf("query %q lost the other parameters", r.URL.RawQuery)
			}
			for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip", "X-Hop", "Keep-Alive", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v := r.Header.Get(h); v != "" {
					t.Errorf("upstream got %s: %q", h, v)
				}
			}
			if r.URL.Path != genPath {
				t.Errorf("upstream path %q, want %q", r.URL.Path, genPath)
			}
		})
	}
	for i, r := range rec.all() {
		var raw strings.Builder
		r.Write(&raw)
		if strings.Contains(raw.String(), token) || strings.Contains(rec.body[i], token) {
			t.Errorf("request %d upstream holds the token:\n%s", i, raw.String())
		}
	}
	noSecrets(t, "the logs", logs.String())
	if n := strings.Count(logs.String(), `"msg":"request"`); n != len(cases) {
		t.Errorf("%d access log lines, want %d:\n%s", n, len(cases), logs)
	}
	if !strings.Contains(logs.String(), `key=REDACTED`) {
		t.Errorf("the access log does not show the query's key redacted:\n%s", logs)
	}
}

// TestUnauthorized: no token or a wrong one gets 401 in the connector's
// shape, and nothing goes upstream.
func TestUnauthorized(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	ps := recorderProxy(t, rec, logs, nil)
	for _, c := range []struct {
		path, tok, want string
	}{
		{genPath, "", `"status":"UNAUTHENTICATED"`},
		{genPath, "wrong-token", `"status":"UNAUTHENTICATED"`},
		{"/gemini" + genPath, token[:len(token)-1], `"status":"UNAUTHENTICATED"`},
		{chatPath, "wrong-token", `"code":"invalid_api_key"`},
		{"/gemini" + chatPath, "", `"code":"invalid_api_key"`},
	} {
		resp, body := do(t, "POST", ps.URL+c.path, c.tok, genBody)
		noSecrets(t, "a 401 body", body)
		if resp.StatusCode != 401 || !strings.Contains(body, c.want) {
			t.Errorf("%s with %q: %d %s, want 401 with %s", c.path, c.tok, resp.StatusCode, body, c.want)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d unauthorized requests went upstream", n)
	}
	if strings.Contains(logs.String(), "wrong-token") {
		t.Fatal("a wrong token was logged")
	}
}

// TestNotFound: a path naming no connector, with two served and no root,
// gets 404 and the prefixes.
func TestNotFound(t *testing.T) {
	rec := newRecorder(t, nil)
	dir := t.TempDir()
	var trs []*jongler.Transport
	for _, name := range []string{gemini, "router.huggingface.co"} {
		tr, err := jongler.NewTransport(name, jongler.WithKeys(jKeys(testKeys)...), jongler.WithStateDir(dir), jongler.WithBaseURL(rec.URL))
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	h, err := proxy.New(trs)
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(h)
	defer ps.Close()
	resp, body := do(t, "POST", ps.URL+genPath, "", genBody)
	var nf struct{ Prefixes []string }
	json.Unmarshal([]byte(body), &nf)
	want := []string{"/gemini/", "/generativelanguage.googleapis.com/", "/hf/", "/router.huggingface.co/"}
	if resp.StatusCode != 404 || fmt.Sprint(nf.Prefixes) != fmt.Sprint(want) {
		t.Fatalf("%d %s, want 404 listing %v", resp.StatusCode, body, want)
	}
	if resp, body := do(t, "POST", ps.URL+"/hf/v1/chat/completions", "", `{}`); resp.StatusCode != 200 {
		t.Fatalf("/hf/: %d %s", resp.StatusCode, body)
	}
	if p := rec.all()[0].URL.Path; p != "/v1/chat/completions" {
		t.Fatalf("upstream path %q", p)
	}
	if _, err := proxy.New(trs, proxy.WithRoot("nope")); err == nil {
		t.Fatal("WithRoot of an unserved connector: no error")
	}
	h, err = proxy.New(trs, proxy.WithRoot("hf"))
	if err != nil || h.Root() != "router.huggingface.co" {
		t.Fatalf("WithRoot(hf): %v, root %q", err, h.Root())
	}
	for _, tr := range trs {
		tr.CloseIdleConnections()
	}
}

// TestStreamChunkByChunk: each server-sent event reaches the client before
// the upstream writes the next one; a proxy that buffered would stall.
func TestStreamChunkByChunk(t *testing.T) {
	const events = 5
	ack := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range events {
			fmt.Fprintf(w, "data: {\"n\":%d}\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			}
		}
	})
	br := streamThrough(t, recorderProxy(t, rec, io.Discard, nil))
	for i := range events {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v (held back by the proxy?)", i, err)
		}
		if want := fmt.Sprintf("data: {\"n\":%d}\n", i); line != want {
			t.Fatalf("event %d: %q, want %q", i, line, want)
		}
		br.ReadString('\n')
		ack <- struct{}{}
	}
}

// streamThrough asks the proxy ps for a stream, with the token, and returns
// the answer's body to read; it is closed when the test ends.
func streamThrough(t *testing.T, ps *httptest.Server) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "POST", ps.URL+"/v1beta/models/"+model+":streamGenerateContent?alt=sse", strings.NewReader(genBody))
	req.Header.Set("x-goog-api-key", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewReader(resp.Body)
}

// TestClientGoneFreesKey: a client leaving mid-stream cancels the upstream
// request, and its key is free again.
func TestClientGoneFreesKey(t *testing.T) {
	upstreamGone := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {}\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		close(upstreamGone)
	})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	tr, err := jongler.NewTransport(gemini, jongler.WithKeys(jKeys(testKeys[:1])...), jongler.WithStateDir(t.TempDir()), jongler.WithBaseURL(rec.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	h, _ := proxy.New([]*jongler.Transport{tr}, proxy.WithAccessLog(logger))
	ps := httptest.NewServer(h)
	defer ps.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ps.URL+"/v1beta/models/"+model+":streamGenerateContent?alt=sse", strings.NewReader(genBody))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	<-upstreamGone
	deadline := time.Now().Add(10 * time.Second)
	for {
		ks, err := tr.KeyStates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ks.Keys["k1"].InFlight == 0 && strings.Contains(logs.String(), `"msg":"request"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key still in flight after the client left: %+v; logs %s", ks.Keys["k1"], logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ps.Close() // waits for the handler, so the log line is whole
	if !strings.Contains(logs.String(), `"note":"client gone"`) {
		t.Errorf("access log does not say the client left:\n%s", logs)
	}
}

// TestProxyErrors: the proxy's own failures, in the upstream's shape, never
// with the error's text.
func TestProxyErrors(t *testing.T) {
	t.Run("body too large", func(t *testing.T) {
		rec := newRecorder(t, nil)
		ps := recorderProxy(t, rec, io.Discard, nil, proxy.WithMaxBodyBytes(64))
		resp, body := do(t, "POST", ps.URL+genPath, token, strings.Repeat("x", 65))
		if resp.StatusCode != 413 || !strings.Contains(body, `"status":"INVALID_ARGUMENT"`) {
			t.Fatalf("%d %s, want 413", resp.StatusCode, body)
		}
		if len(rec.all()) != 0 {
			t.Fatal("a body over the bound went upstream")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		rec := newRecorder(t, nil)
		addr := rec.URL
		rec.Close()
		ps := recorderProxy(t, rec, io.Discard, []jongler.Option{jongler.WithMaxRetries(-1)})
		resp, body := do(t, "POST", ps.URL+genPath, token, genBody)
		if resp.StatusCode != 502 || !strings.Contains(body, `"status":"UNAVAILABLE"`) || strings.Contains(body, strings.TrimPrefix(addr, "http://")) {
			t.Fatalf("%d %s, want 502 without the address", resp.StatusCode, body)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		})
		defer close(block)
		base := &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}
		defer base.CloseIdleConnections()
		ps := recorderProxy(t, rec, io.Discard, []jongler.Option{jongler.WithMaxRetries(-1), jongler.WithBaseTransport(base)})
		resp, body := do(t, "POST", ps.URL+chatPath, token, `{"model":"gemini-2.5-flash"}`)
		if resp.StatusCode != 504 || !strings.Contains(body, `"code":"timeout"`) {
			t.Fatalf("%d %s, want 504 in OpenAI's shape", resp.StatusCode, body)
		}
	})
}

// TestExhaustionAnswers: through the proxy, the exhausting request and the
// later ones get 429 with the same Retry-After; no answer, header or log
// line holds a key or the token.
func TestExhaustionAnswers(t *testing.T) {
	f := newFixture(t, fixtureConfig{keys: testKeys[:2], models: map[string]jonglertest.Quota{model: {RPM: 1, RPD: 100}}})
	for range 2 {
		if resp, body := do(t, "POST", f.proxy.URL+genPath, token, genBody); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	var retryAfter []string
	for i := range 3 {
		resp, body := do(t, "POST", f.proxy.URL+genPath, token, genBody)
		var raw strings.Builder
		resp.Header.Write(&raw)
		noSecrets(t, "a 429 answer", raw.String()+body)
		if resp.StatusCode != 429 || !strings.Contains(body, `"RESOURCE_EXHAUSTED"`) || !strings.Contains(body, `"retryDelay"`) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		retryAfter = append(retryAfter, resp.Header.Get("Retry-After"))
	}
	// The same on every exhausted request, to the second it counts down by
	// while the test runs.
	first, _ := strconv.Atoi(retryAfter[0])
	for _, ra := range retryAfter {
		if n, err := strconv.Atoi(ra); err != nil || n <= 0 || n > first || n < first-1 {
			t.Fatalf("Retry-After %q: want the same seconds on every exhausted request", retryAfter)
		}
	}
	if st := f.srv.Stats(); st.Requests != 4 {
		t.Fatalf("upstream saw %d requests, want 2 successes and 2 refusals, nothing after", st.Requests)
	}
	logs := f.logs.String()
	noSecrets(t, "the logs", logs)
	if !strings.Contains(logs, `"note":"no key"`) {
		t.Fatalf("no access-log line says no key:\n%s", logs)
	}
}

// closeRecorder is a request body that records that it was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestRequestUnchanged: the handler changes nothing of the request it is
// given, and leaves its body to the server to close, whether the request goes upstream, is refused,
// or names no connector.
func TestRequestUnchanged(t *testing.T) {
	rec := newRecorder(t, nil)
	ps := recorderProxy(t, rec, io.Discard, nil)
	h := ps.Config.Handler
	for _, c := range []struct{ path, tok string }{
		{"/gemini" + genPath + "?key=" + token + "&alt=sse", ""},
		{genPath, token},
		{genPath, "wrong"},
	} {
		body := &closeRecorder{Reader: strings.NewReader(genBody)}
		req := httptest.NewRequest("POST", c.path, body)
		if c.tok != "" {
			req.Header.Set("x-goog-api-key", c.tok)
		}
		before := req.URL.String()
		hdr := req.Header.Clone()
		h.ServeHTTP(httptest.NewRecorder(), req)
		if req.URL.String() != before || fmt.Sprint(req.Header) != fmt.Sprint(hdr) {
			t.Errorf("%s: request changed: %s %v", c.path, req.URL, req.Header)
		}
		if body.closed {
			// As httputil.ReverseProxy: the server closes it, not the handler.
			t.Errorf("%s: the handler closed the request body", c.path)
		}
	}
}
