package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// poolUpstream refuses the key refusedValue for good and serves the others.
type poolUpstream struct{ refused string }

func (u poolUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	status, body := http.StatusOK, `{"candidates":[]}`
	if r.Header.Get("x-goog-api-key") == u.refused {
		status, body = http.StatusBadRequest, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`
	}
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// TestPoolSummaryWarns: while a key is refused for good, or every key is
// held back, serve's periodic summary says so at WARN with counts per
// state, never a key's name or value; a healthy pool says nothing; the
// watcher stops when told.
func TestPoolSummaryWarns(t *testing.T) {
	const bad, good = "lit-secret-pool-refused-0123456789", "lit-secret-pool-good-0123456789"
	newTr := func(keys ...jongler.Key) *jongler.Transport {
		tr, err := jongler.NewTransport(jongler.ConnectorGemini, jongler.WithKeys(keys...),
			jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseTransport(poolUpstream{refused: bad}),
			jongler.WithNoKeyAnswer(), jongler.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	send := func(tr *jongler.Transport) {
		req, _ := http.NewRequest(http.MethodPost, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	healthy := newTr(jongler.Key{Name: "good1", Value: good})
	send(healthy)
	newLog := func() (*lockedBuffer, *slog.Logger) {
		b := &lockedBuffer{}
		return b, slog.New(slog.NewTextHandler(b, nil))
	}
	logs, log := newLog()
	logPoolSummary(t.Context(), log, []*jongler.Transport{healthy})
	if logs.String() != "" {
		t.Fatalf("a healthy pool logged:\n%s", logs.String())
	}

	// One key refused for good, one serving: a warning with the counts.
	mixed := newTr(jongler.Key{Name: "bad1", Value: bad}, jongler.Key{Name: "good1", Value: good})
	send(mixed)
	send(mixed)
	logPoolSummary(t.Context(), log, []*jongler.Transport{healthy, mixed})
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "keys refused for good") ||
		!strings.Contains(out, "vacant=1 in_use=0 cooling=0 refused=1") {
		t.Fatalf("one key refused:\n%s\nwant one WARN line counting 1 vacant, 1 refused", out)
	}

	// The only key refused: nothing can serve.
	logs, log = newLog()
	dead := newTr(jongler.Key{Name: "bad1", Value: bad})
	send(dead)
	logPoolSummary(t.Context(), log, []*jongler.Transport{dead})
	out = logs.String()
	if !strings.Contains(out, "no key can serve") || !strings.Contains(out, "vacant=0 in_use=0 cooling=0 refused=1") {
		t.Fatalf("every key refused:\n%s", out)
	}
	for _, s := range []string{bad, good, "bad1", "good1"} {
		if strings.Contains(out, s) {
			t.Fatalf("the summary names %q:\n%s", s, out)
		}
	}

	// Periodically, until stopped; zero watches nothing.
	logs, log = newLog()
	stop := watchPool(context.Background(), log, 10*time.Millisecond, func() []*jongler.Transport { return []*jongler.Transport{dead} })
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	n := strings.Count(logs.String(), "\n")
	if n < 2 {
		t.Fatalf("%d summaries logged in 10 s at a 10 ms interval", n)
	}
	time.Sleep(30 * time.Millisecond)
	if m := strings.Count(logs.String(), "\n"); m != n {
		t.Fatalf("summaries go on after stop: %d then %d", n, m)
	}
	watchPool(context.Background(), log, 0, nil)()
}

// TestServeWarnsOfDeadKey: serve at its default log level tells the
// operator that a key is refused for good, when it happens and then every
// --pool-summary-interval, by counts and the key's name, never its value.
func TestServeWarnsOfDeadKey(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	dead := jonglertest.Key{Label: "dead1", Value: "lit-secret-dead-" + strings.Repeat("7", 24)}
	e.writeINI([]jonglertest.Key{dead, e.keys[0]}) // dead1 is unknown upstream: "API key not valid"
	e.keys = append(e.keys, dead)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--pool-summary-interval", "50ms")
	for range 2 {
		if code, body, _ := call(t, "POST", p.url+"/testgemini"+serveGen, "", serveBody); code != 200 {
			t.Fatalf("generate: %d %s", code, body)
		}
	}
	// A summary taken while a request was in flight counts its key in use:
	// wait for one taken once both were answered.
	const settled = "connector=testgemini vacant=1 in_use=0 cooling=0 refused=1"
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stderr.String(), settled) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.stop(t, syscall.SIGTERM)
	out := p.stderr.String()
	if !strings.Contains(out, `level=WARN msg="jongler: key in error"`) || !strings.Contains(out, "key=dead1") {
		t.Errorf("stderr:\n%s\nwant the refusal of dead1 at WARN", out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, settled) {
		t.Errorf("stderr:\n%s\nwant a pool summary at WARN", out)
	}
	e.noSecrets("stderr", out)
}
