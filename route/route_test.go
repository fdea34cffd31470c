package route_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/routetest"
	"github.com/api-jongler/jongler/internal/transporttest"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/route"
)

// fixture is the three simulated tiers behind a route handler.
type fixture struct {
	*routetest.Tiers
	h    *route.Handler
	srv  *httptest.Server
	logs *transporttest.Buffer
}

func newFixture(t *testing.T, cfg routetest.Config, routes ...route.Route) *fixture {
	t.Helper()
	if cfg.Minute == 0 {
		// Long enough that no window ends while a test sends its burst,
		// on a loaded machine too; the tests that wait for the next
		// minute wait this long.
		cfg.Minute = 3 * time.Second
	}
	logs := &transporttest.Buffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tiers, err := routetest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) == 0 {
		routes = []route.Route{routetest.Route("fast", 0)}
	}
	h, err := route.New(tiers.Transports, routes, route.WithClock(tiers.Clock), route.WithAccessLog(cfg.Logger))
	if err != nil {
		tiers.Close()
		t.Fatal(err)
	}
	f := &fixture{Tiers: tiers, h: h, srv: httptest.NewServer(h), logs: logs}
	t.Cleanup(func() {
		f.srv.Close()
		tiers.Close()
		for _, v := range routetest.KeyValues() {
			if strings.Contains(logs.String(), v) {
				t.Errorf("a key value is in the log")
			}
		}
	})
	return f
}

// answer is one answer of the handler, read.
type answer struct {
	status int
	target string
	header http.Header
	body   string
}

func (f *fixture) post(t *testing.T, path, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer client-token-not-for-upstream")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, v := range routetest.KeyValues() {
		if strings.Contains(string(b), v) || strings.Contains(fmtHeader(resp.Header), v) {
			t.Fatalf("a key value is in the answer")
		}
	}
	return answer{resp.StatusCode, resp.Header.Get(route.TargetHeader), resp.Header, string(b)}
}

func fmtHeader(h http.Header) string {
	var b bytes.Buffer
	h.Write(&b)
	return b.String()
}

func chat(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"Hello"}]}`
}

// TestFallThrough: requests go to the first tier until its quota is spent,
// then to the next; Gemini's quota costs one 429, learned from its body;
// the header-style tier's costs none, its headers having said 0 left; the
// client sees no 429 while a tier has room.
func TestFallThrough(t *testing.T) {
	f := newFixture(t, routetest.Config{})
	want := []string{"gemini", "gemini", "groq", "groq", "cerebras", "cerebras"}
	for i, w := range want {
		a := f.post(t, "/v1/chat/completions", chat("fast"))
		if a.status != 200 || !strings.Contains(a.target, w) {
			t.Fatalf("request %d: %d from %q, want 200 from %s: %s\n%s", i+1, a.status, a.target, w, a.body, f.logs)
		}
		var c struct{ Model string }
		json.Unmarshal([]byte(a.body), &c)
		if !strings.HasSuffix(a.target, "/"+c.Model) {
			t.Errorf("request %d: the upstream got model %q, target %s", i+1, c.Model, a.target)
		}
	}
	if got := f.Gemini.Stats().RateLimited; got != 1 {
		t.Errorf("Gemini answered %d 429s, want 1 (its quota learned from the first)", got)
	}
	if got := f.Groq.Stats().RateLimited; got != 0 {
		t.Errorf("the header-style tier answered %d 429s, want 0 (its headers said when it was spent)", got)
	}
	if s := f.Groq.Stats(); s.Requests != 2 {
		t.Errorf("the header-style tier got %d requests, want 2: a spent tier is skipped without a request", s.Requests)
	}
	if !strings.Contains(f.logs.String(), "skipped=") || !strings.Contains(f.logs.String(), "fell_back="+routetest.GeminiTarget.String()) {
		t.Errorf("the access log does not say what was skipped and fallen back from:\n%s", f.logs)
	}
}

// TestAllSpent: with every target spent, the answer is 429 in OpenAI's
// shape with Retry-After up to the first target's headroom, every time,
// and nothing is sent upstream; after it, the route serves again.
func TestAllSpent(t *testing.T) {
	f := newFixture(t, routetest.Config{CerebrasRPM: 1}, routetest.Route("fast", 0))
	for range 5 {
		if a := f.post(t, "/v1/chat/completions", chat("fast")); a.status != 200 {
			t.Fatalf("%d: %s", a.status, a.body)
		}
	}
	sent := f.Gemini.Stats().Requests + f.Groq.Stats().Requests + f.Cerebras.Stats().Requests
	for range 3 {
		a := f.post(t, "/v1/chat/completions", chat("fast"))
		var e struct {
			Error struct{ Message, Type, Code string } `json:"error"`
		}
		json.Unmarshal([]byte(a.body), &e)
		ra, err := strconv.Atoi(a.header.Get("Retry-After"))
		if a.status != 429 || err != nil || ra < 1 || ra > 60 || e.Error.Code != "rate_limit_exceeded" || e.Error.Message == "" {
			t.Fatalf("all spent: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
		}
	}
	if now := f.Gemini.Stats().Requests + f.Groq.Stats().Requests + f.Cerebras.Stats().Requests; now != sent {
		t.Errorf("%d requests sent upstream while every target was spent", now-sent)
	}
	f.Clock.Sleep(t.Context(), time.Minute)
	if a := f.post(t, "/v1/chat/completions", chat("fast")); a.status != 200 {
		t.Errorf("the next minute: %d %s", a.status, a.body)
	}
}

// TestMaxWait: a route that may wait waits for the first target back
// rather than answer 429.
func TestMaxWait(t *testing.T) {
	f := newFixture(t, routetest.Config{GroqRPM: 1},
		route.Route{Name: "patient", Targets: []route.Target{routetest.GroqTarget}, MaxWait: 2 * time.Minute})
	if a := f.post(t, "/v1/chat/completions", chat("patient")); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	before := f.Clock.Now()
	a := f.post(t, "/v1/chat/completions", chat("patient"))
	if a.status != 200 || a.target != routetest.GroqTarget.String() {
		t.Fatalf("after a wait: %d %s", a.status, a.body)
	}
	if f.Clock.Now().Truncate(time.Minute).Equal(before.Truncate(time.Minute)) {
		t.Error("served within the spent minute")
	}
	if f.Groq.Stats().RateLimited != 0 {
		t.Error("the spent tier was sent a request while spent")
	}
}

// TestPinnedAndList: a pinned CONNECTOR/MODEL goes there and nowhere else;
// a "models" list overrides the order and is not sent upstream; an
// unknown model is 404 in OpenAI's shape.
func TestPinnedAndList(t *testing.T) {
	f := newFixture(t, routetest.Config{})
	if a := f.post(t, "/v1/chat/completions", chat("cerebras/"+routetest.CerebrasModel)); a.status != 200 || a.target != routetest.CerebrasTarget.String() {
		t.Fatalf("pinned by alias: %d %q %s", a.status, a.target, a.body)
	}
	if a := f.post(t, "/v1/chat/completions", chat(routetest.GroqTarget.String())); a.status != 200 || a.target != routetest.GroqTarget.String() {
		t.Fatalf("pinned by name: %d %q", a.status, a.target)
	}
	body := `{"model":"fast","models":["groq/` + routetest.GroqModel + `","fast"],"messages":[{"role":"user","content":"Hi"}]}`
	if a := f.post(t, "/v1/chat/completions", body); a.status != 200 || a.target != routetest.GroqTarget.String() {
		t.Fatalf("models list: %d %q %s", a.status, a.target, a.body)
	}
	// Groq is spent now (2 a minute): the pinned target is not replaced.
	if a := f.post(t, "/v1/chat/completions", chat("groq/"+routetest.GroqModel)); a.status != 429 || a.target != "" {
		t.Fatalf("pinned and spent: %d %q, want 429 from no target", a.status, a.target)
	}
	a := f.post(t, "/v1/chat/completions", chat("gpt-nope"))
	if a.status != 404 || !strings.Contains(a.body, `"error"`) || !strings.Contains(a.body, "fast") {
		t.Errorf("unknown model: %d %s", a.status, a.body)
	}
	if a := f.post(t, "/v1/chat/completions", `{"model":`); a.status != 400 {
		t.Errorf("bad JSON: %d", a.status)
	}
	if f.Groq.Stats().Failed != 0 || f.Cerebras.Stats().Failed != 0 {
		t.Errorf("an upstream refused a request (the models list or the client's token sent up?): %+v %+v", f.Groq.Stats(), f.Cerebras.Stats())
	}
}

// TestFallBackOn5xx: a 500 from the first tier sends the request on to
// the next, at once, before any byte reached the client.
func TestFallBackOn5xx(t *testing.T) {
	f := newFixture(t, routetest.Config{})
	f.Gemini.InjectFaults(jonglertest.FaultInternal, 1)
	if a := f.post(t, "/v1/chat/completions", chat("fast")); a.status != 200 || a.target != routetest.GroqTarget.String() {
		t.Fatalf("%d %q %s", a.status, a.target, a.body)
	}
	if got := f.Gemini.Stats().Failed; got != 1 {
		t.Errorf("Gemini failed %d times, want 1 (no retry on the spot: the route falls back)", got)
	}
}

// TestTokens: a prompt longer than the tokens a header-style tier says it
// has left goes to the next tier without a request to it.
func TestTokens(t *testing.T) {
	f := newFixture(t, routetest.Config{GroqRPM: 100, GroqTPM: 400},
		route.Route{Name: "r", Targets: []route.Target{routetest.GroqTarget, routetest.CerebrasTarget}})
	long := strings.Repeat("lorem ipsum ", 100) // 1,200 characters: about 300 tokens
	body := `{"model":"r","messages":[{"role":"user","content":"` + long + `"}]}`
	if a := f.post(t, "/v1/chat/completions", body); a.target != routetest.GroqTarget.String() {
		t.Fatalf("first: %d %q", a.status, a.target)
	}
	if a := f.post(t, "/v1/chat/completions", body); a.status != 200 || a.target != routetest.CerebrasTarget.String() {
		t.Fatalf("second: %d %q, want Cerebras: Groq's tokens are spent", a.status, a.target)
	}
	if a := f.post(t, "/v1/chat/completions", chat("r")); a.target != routetest.GroqTarget.String() {
		t.Errorf("a short prompt: %q, want Groq, which has tokens left for it", a.target)
	}
	if s := f.Groq.Stats(); s.RateLimited != 0 {
		t.Errorf("Groq answered %d 429s", s.RateLimited)
	}
}

// TestStream: a streamed answer passes chunk by chunk, named by its
// target.
func TestStream(t *testing.T) {
	f := newFixture(t, routetest.Config{})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"fast","stream":true,"messages":[{"role":"user","content":"Stream it"}]}`))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(route.TargetHeader) != routetest.GeminiTarget.String() || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, s)
		}
	}
	if len(events) < 3 || events[len(events)-1] != "[DONE]" {
		t.Errorf("events %q", events)
	}
}

// TestModelsAndEmbeddings: GET /v1/models lists the routes and targets in
// OpenAI's shape; embeddings are routed as chat is.
func TestModelsAndEmbeddings(t *testing.T) {
	f := newFixture(t, routetest.Config{}, routetest.Route("fast", 0),
		route.Route{Name: "embed", Targets: []route.Target{routetest.CerebrasTarget}})
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string
		Data   []struct{ ID, Object string }
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	var ids []string
	for _, d := range list.Data {
		ids = append(ids, d.ID)
	}
	want := []string{"fast", "embed", routetest.GeminiTarget.String(), routetest.GroqTarget.String(), routetest.CerebrasTarget.String()}
	if list.Object != "list" || strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("models %q, want %q", ids, want)
	}
	if got := f.h.Names(); strings.Join(got, " ") != "fast embed" {
		t.Errorf("Names() = %q", got)
	}
	if a := f.post(t, "/v1/embeddings", `{"model":"embed","input":"hello"}`); a.status != 200 || !strings.Contains(a.body, `"embedding"`) {
		t.Errorf("embeddings: %d %s", a.status, a.body)
	}
}

// TestNewErrors: a route naming a connector not served, or one with no
// OpenAI path, is refused naming the route and the target.
func TestNewErrors(t *testing.T) {
	tiers, err := routetest.New(routetest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tiers.Close()
	for _, c := range []struct {
		r    route.Route
		want string
	}{
		{route.Route{Name: "x", Targets: []route.Target{{Connector: "openai", Model: "gpt"}}}, `route "x", target "openai/gpt": connector "openai" is not served here`},
		{route.Route{Name: "a/b", Targets: []route.Target{routetest.GroqTarget}}, `"a/b" is not a route name`},
		{route.Route{Name: "y"}, `route "y" has no targets`},
	} {
		_, err := route.New(tiers.Transports, []route.Route{c.r})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
}

// TestFallback: with WithFallback, a model no route names, other paths,
// and /v1/models without routes go to the next handler, body intact.
func TestFallback(t *testing.T) {
	tiers, err := routetest.New(routetest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tiers.Close()
	var got []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		w.WriteHeader(http.StatusTeapot)
	})
	for _, routes := range [][]route.Route{{routetest.Route("fast", 0)}, nil} {
		got = nil
		h, err := route.New(tiers.Transports, routes, route.WithFallback(next), route.WithClock(tiers.Clock))
		if err != nil {
			t.Fatal(err)
		}
		do := func(method, path, body string) int {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
			return rec.Code
		}
		if c := do("POST", "/v1/chat/completions", chat("gpt-4o")); c != http.StatusTeapot {
			t.Errorf("unknown model: %d", c)
		}
		if c := do("POST", "/v1/chat/completions", chat("groq/"+routetest.GroqModel)); c != 200 {
			t.Errorf("pinned: %d", c)
		}
		if c := do("GET", "/v1beta/models", ""); c != http.StatusTeapot {
			t.Errorf("another path: %d", c)
		}
		wantModels := 200
		if routes == nil {
			wantModels = http.StatusTeapot
		}
		if c := do("GET", "/v1/models", ""); c != wantModels {
			t.Errorf("routes %v: /v1/models: %d, want %d", routes, c, wantModels)
		}
		if len(got) == 0 || got[0] != "POST /v1/chat/completions "+chat("gpt-4o") {
			t.Errorf("the fallback got %q", got)
		}
	}
}

// TestStreamCutStaysWithTarget: an upstream that breaks off a stream
// after its first chunk does not send the request elsewhere (the client
// has bytes already): the stream ends with an error event, in OpenAI's
// shape, from the same target.
func TestStreamCutStaysWithTarget(t *testing.T) {
	f := newFixture(t, routetest.Config{})
	f.Gemini.InjectFaults(jonglertest.FaultCut, 1)
	a := f.post(t, "/v1/chat/completions", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"Stream it"}]}`)
	if a.status != 200 || a.target != routetest.GeminiTarget.String() {
		t.Fatalf("%d from %q", a.status, a.target)
	}
	events := strings.Split(strings.TrimSpace(a.body), "\n\n")
	last := events[len(events)-1]
	if len(events) != 2 || !strings.HasPrefix(last, `data: {"error":`) || strings.Contains(a.body, "[DONE]") {
		t.Errorf("events %q: want the first chunk, then an error event", events)
	}
	if s := f.Groq.Stats(); s.Requests != 0 {
		t.Errorf("the request went on to another target after the stream began: %+v", s)
	}
}

// TestGeminiInputTokens: Gemini's input-token quota, learned from the
// one 429 that names it, keeps long prompts from Gemini afterwards (they
// go to the next tier without a request to Gemini), while short ones
// still go to Gemini.
func TestGeminiInputTokens(t *testing.T) {
	f := newFixture(t, routetest.Config{GeminiRPM: 100, GroqRPM: 100, GeminiInputTPM: 100})
	long := `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 50) + `"}]}` // about 150 tokens
	if a := f.post(t, "/v1/chat/completions", long); a.status != 200 || a.target != routetest.GroqTarget.String() {
		t.Fatalf("first long prompt: %d from %q, want Groq after Gemini's 429", a.status, a.target)
	}
	if got := f.Gemini.Stats().RateLimited; got != 1 {
		t.Fatalf("Gemini 429s: %d, want 1", got)
	}
	f.Clock.Sleep(t.Context(), time.Minute) // a fresh window
	sent := f.Gemini.Stats().Requests
	if a := f.post(t, "/v1/chat/completions", long); a.target != routetest.GroqTarget.String() {
		t.Fatalf("a long prompt in a fresh minute: %q, want Groq: it is over Gemini's quota", a.target)
	}
	if f.Gemini.Stats().Requests != sent {
		t.Error("a prompt over Gemini's learned token quota was sent to it")
	}
	if a := f.post(t, "/v1/chat/completions", chat("fast")); a.target != routetest.GeminiTarget.String() {
		t.Errorf("a short prompt: %q, want Gemini", a.target)
	}
	if got := f.Gemini.Stats().RateLimited; got != 1 {
		t.Errorf("Gemini 429s: %d, want 1", got)
	}
}
