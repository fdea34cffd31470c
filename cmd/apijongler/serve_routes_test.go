package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// The models of the three simulated tiers behind serve's routes.
const (
	rtGeminiModel   = "gemini-2.5-flash"
	rtGroqModel     = "llama-3.3-70b-versatile"
	rtCerebrasModel = "llama3.3-70b"
)

// routesEnv is serve's files for routes over three simulated free tiers
// at once: a Gemini API writing RetryInfo/QuotaFailure 429s, a
// header-style provider writing x-ratelimit-* headers (2 requests a
// minute each), and an unlimited one; connectors simgemini, simgroq and
// simcerebras point at them, and the INI file's [routes] has "fast" over
// the three in that order.
type routesEnv struct {
	*serveEnv
	gemini          *jonglertest.Server
	groq, cerebras  *jonglertest.Provider
	values          []string
	geminiT, groqT  string
	cerebrasT, path string
}

func newRoutesEnv(t *testing.T, routes string) *routesEnv {
	t.Helper()
	// A simulated minute lasts an hour: no window ends during the test.
	start, minute := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), time.Hour
	e := &routesEnv{serveEnv: &serveEnv{t: t, dir: t.TempDir()}}
	stamp := fmt.Sprintf("%x", time.Now().UnixNano())
	e.values = []string{"AIza-routes-gemini-" + stamp, "gsk-routes-groq-" + stamp, "csk-routes-cerebras-" + stamp}
	for i, v := range e.values {
		e.keys = append(e.keys, jonglertest.Key{Label: fmt.Sprintf("key%d", i+1), Value: v})
	}
	e.gemini = jonglertest.NewServer(jonglertest.Config{Keys: e.keys[:1], Start: start, Minute: minute,
		Models: map[string]jonglertest.Quota{rtGeminiModel: {RPM: 2, RPD: jonglertest.Unlimited}}})
	t.Cleanup(e.gemini.Close)
	e.groq = jonglertest.NewProvider(jonglertest.ProviderConfig{Keys: e.keys[1:2], Path: "/openai/v1", Clock: e.gemini.Clock(),
		Models: map[string]jonglertest.Limits{rtGroqModel: {RPM: 2, TPM: jonglertest.Unlimited}}})
	t.Cleanup(e.groq.Close)
	e.cerebras = jonglertest.NewProvider(jonglertest.ProviderConfig{Keys: e.keys[2:], Path: "/v1", Clock: e.gemini.Clock(),
		Models: map[string]jonglertest.Limits{rtCerebrasModel: {RPM: jonglertest.Unlimited, TPM: jonglertest.Unlimited}}})
	t.Cleanup(e.cerebras.Close)
	e.geminiT, e.groqT, e.cerebrasT = "simgemini/"+rtGeminiModel, "simgroq/"+rtGroqModel, "simcerebras/"+rtCerebrasModel

	conns := filepath.Join(e.dir, "connectors")
	os.MkdirAll(conns, 0o755)
	var ini strings.Builder
	for i, c := range []struct{ name, url, policy, header, path string }{
		{"simgemini", e.gemini.URL, "gemini", "x-goog-api-key", "/v1beta/openai"},
		{"simgroq", e.groq.URL, "groq", "Authorization", "/openai/v1"},
		{"simcerebras", e.cerebras.URL, "cerebras", "Authorization", "/v1"},
	} {
		port := c.url[strings.LastIndexByte(c.url, ':')+1:]
		prefix := ""
		if c.header == "Authorization" {
			prefix = "Bearer "
		}
		js := fmt.Sprintf(`{"name": %q, "host": "127.0.0.1", "port": %s, "protocol": "http", "requires_api_key": true,
"api_key_header": %q, "api_key_prefix": %q, "policy": %q, "openai_path": %q}`, c.name, port, c.header, prefix, c.policy, c.path)
		if err := os.WriteFile(filepath.Join(conns, c.name+".json"), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&ini, "[%s]\nkey1 = %s\n", c.name, e.values[i])
	}
	if routes == "" {
		routes = "fast = " + e.geminiT + ", " + e.groqT + ", " + e.cerebrasT
	}
	fmt.Fprintf(&ini, "[routes]\n%s\n", routes)
	if err := os.WriteFile(filepath.Join(e.dir, "keys.ini"), []byte(ini.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = append(os.Environ(),
		jongler.ConfigEnv+"="+filepath.Join(e.dir, "keys.ini"),
		jongler.ConnectorsDirEnv+"="+conns,
		jongler.StateDirEnv+"="+filepath.Join(e.dir, "state"),
		jongler.TorEnv+"=",
		listenEnv+"=", tokensEnv+"=",
	)
	return e
}

// TestServeRoutesOpenAIGo: the OpenAI Go SDK against serve's routes over
// three simulated free tiers: a stream, a route falling through the
// tiers with one upstream 429 (Gemini's, learned from its body) and none
// from the header-style tier, a pinned target, a models list, 429 with
// Retry-After once every tier is spent, the model list; the access log
// and /metrics name the targets, and no key or token shows anywhere.
func TestServeRoutesOpenAIGo(t *testing.T) {
	e := newRoutesEnv(t, "")
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := openai.NewClient(option.WithBaseURL(p.url+"/v1/"), option.WithAPIKey(serveToken), option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{}))
	params := func(model string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")}}
	}
	served := func(model string, opts ...option.RequestOption) string {
		t.Helper()
		var resp *http.Response
		cc, err := c.Chat.Completions.New(ctx, params(model), append(opts, option.WithResponseInto(&resp))...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", model, err, p.stderr)
		}
		if len(cc.Choices) != 1 || !strings.Contains(cc.Choices[0].Message.Content, "Hello") {
			t.Fatalf("%s: answer %+v", model, cc.Choices)
		}
		return resp.Header.Get("X-Apijongler-Target")
	}
	stream := c.Chat.Completions.NewStreaming(ctx, params("fast"))
	n := 0
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			n++
		}
	}
	if err := stream.Err(); err != nil || n < 2 {
		t.Fatalf("stream: %d chunks, %v", n, err)
	}
	stream.Close()
	for i, want := range []string{e.geminiT, e.groqT} {
		if got := served("fast"); got != want {
			t.Fatalf("request %d: served by %q, want %s\n%s", i+2, got, want, p.stderr)
		}
	}
	if got := served("simcerebras/" + rtCerebrasModel); got != e.cerebrasT {
		t.Fatalf("pinned: %q", got)
	}
	if got := served("fast", option.WithJSONSet("models", []string{e.cerebrasT})); got != e.cerebrasT {
		t.Fatalf("models list: %q", got)
	}
	if got := served("fast"); got != e.groqT {
		t.Fatalf("Groq's second: %q", got)
	}
	// The limited tiers are spent; the unlimited one is not in "tight".
	_, err := c.Chat.Completions.New(ctx, params(e.groqT))
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 {
		t.Fatalf("pinned to a spent tier: %v, want the SDK's 429", err)
	}
	if s, err := strconv.Atoi(oe.Response.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q", oe.Response.Header.Get("Retry-After"))
	}
	if got := served("fast"); got != e.cerebrasT {
		t.Fatalf("every limited tier spent: %q", got)
	}
	if g, q := e.gemini.Stats().RateLimited, e.groq.Stats().RateLimited; g != 1 || q != 0 {
		t.Errorf("upstream 429s: Gemini %d (want 1, learned from its body), header-style %d (want 0)", g, q)
	}
	models, err := c.Models.List(ctx)
	if err != nil || len(models.Data) != 4 || models.Data[0].ID != "fast" {
		t.Fatalf("models: %v %+v", err, models)
	}
	wrong := openai.NewClient(option.WithBaseURL(p.url+"/v1/"), option.WithAPIKey("wrong"), option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{}))
	if _, err := wrong.Chat.Completions.New(ctx, params("fast")); !errors.As(err, &oe) || oe.StatusCode != 401 {
		t.Fatalf("wrong token: %v", err)
	}
	code, metrics, _ := call(t, "GET", p.url+"/metrics", serveToken, "")
	if code != 200 || !strings.Contains(metrics, `apijongler_route_targets_total{`) || !strings.Contains(metrics, `outcome="skipped"`) {
		t.Errorf("/metrics has no route counts:\n%s", grepLines(metrics, "route"))
	}
	p.stop(t, os.Interrupt)
	log := p.stderr.String()
	if !strings.Contains(log, "target="+e.cerebrasT) || !strings.Contains(log, "fell_back="+e.geminiT) {
		t.Errorf("the access log does not name targets:\n%s", log)
	}
	for _, v := range append(e.values, serveToken) {
		if strings.Contains(log, v) || strings.Contains(metrics, v) {
			t.Errorf("a key or the token is in the log or the metrics")
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServeRoutesErrors: a bad [routes] line stops serve with one line
// naming the file's line, the route and the target.
func TestServeRoutesErrors(t *testing.T) {
	for _, c := range []struct{ routes, want string }{
		{"fast = nope/m1", `[routes] route "fast", target "nope/m1": unknown connector "nope"`},
		{"fast = httpbin.org/get", `route "fast", target "httpbin.org/get": connector httpbin.org has no "openai_path"`},
		{"fast = simgroq", `route "fast", target 1 ("simgroq"): want CONNECTOR/MODEL`},
		{"fast = groq/llama", `route "fast", target "api.groq.com/llama": connector "api.groq.com" is not served here`},
	} {
		e := newRoutesEnv(t, c.routes)
		code, stderr := e.tryServe(nil, "serve", "--listen", "127.0.0.1:0")
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d and one line with %q", c.routes, code, stderr, exitUsage, c.want)
		}
	}
}

// TestServeRoutesNode: the npm openai package, through Node, against
// serve's routes: fall through, pinned target, models list, all spent,
// stream (testdata/routesjs/routes.mjs).
func TestServeRoutesNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needsNode(t, "node is not in PATH: the JavaScript SDK tests need Node 20 or later (.ci/run checks for it)")
	}
	dir := filepath.Join("testdata", "routesjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		needsNode(t, "the npm packages are not installed: run `npm ci` in cmd/apijongler/"+filepath.ToSlash(dir)+" (.ci/run does)")
	}
	e := newRoutesEnv(t, "")
	writeRoutes(t, e, "fast = "+e.geminiT+", "+e.groqT+", "+e.cerebrasT+"\ntight = "+e.geminiT+", "+e.groqT)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	cmd := exec.Command(node, "routes.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE_URL="+p.url+"/v1", "TOKEN="+serveToken,
		"GEMINI_TARGET="+e.geminiT, "GROQ_TARGET="+e.groqT, "CEREBRAS_TARGET="+e.cerebrasT)
	out, err := cmd.CombinedOutput()
	t.Logf("node routes.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node routes.mjs: %v\nserve:\n%s", err, p.stderr)
	}
	if n := strings.Count("\n"+string(out), "\nok "); n != 6 {
		t.Fatalf("%d cases passed, want 6", n)
	}
	if g, q := e.gemini.Stats().RateLimited, e.groq.Stats().RateLimited; g != 1 || q != 0 {
		t.Errorf("upstream 429s: Gemini %d (want 1), header-style %d (want 0)", g, q)
	}
	for _, v := range e.values {
		if strings.Contains(string(out), v) {
			t.Error("a key value reached the client")
		}
	}
}

// needsNode fails t for want of what, or skips it under go test -short.
func needsNode(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + "; skipped under -short")
	}
	t.Fatal(what)
}

// writeRoutes replaces the [routes] section of e's INI file with routes.
func writeRoutes(t *testing.T, e *routesEnv, routes string) {
	t.Helper()
	path := filepath.Join(e.dir, "keys.ini")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "[routes]")
	if err := os.WriteFile(path, []byte(head+"[routes]\n"+routes+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeRoutesClients: the routes endpoint lets in a tokens file's
// clients as the proxy does, under their limits and their allow lists: a
// client allowed one connector is served by that connector's targets of a
// route only, and refused (403) a route with none of them; a client over
// its limit gets 429 saying so; a model that is no route's, handed on to
// the proxy, counts once; the access log names the client, and /metrics'
// target labels stay the routes' own whatever a client pins.
func TestServeRoutesClients(t *testing.T) {
	e := newRoutesEnv(t, "fast = simgemini/"+rtGeminiModel+", simcerebras/"+rtCerebrasModel+"\ncheap = simgroq/"+rtGroqModel)
	const carolTok, daveTok = "carol-token-0123456789abcdef", "dave-token-0123456789abcdef"
	tokens := writeSecret(t, e.dir, "tokens", "carol "+carolTok+" allow=simcerebras\ndave "+daveTok+" per_minute=2\n", 0o600)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--tokens-file", tokens)
	chat := func(tok, model string) (int, string, http.Header) {
		t.Helper()
		return call(t, "POST", p.url+"/v1/chat/completions", tok, `{"model":"`+model+`","messages":[{"role":"user","content":"Hi"}]}`)
	}
	for _, c := range []struct {
		tok, model, target string
		want               int
		says               string
	}{
		{carolTok, "fast", e.cerebrasT, 200, ""}, // Gemini is first, but not carol's
		{carolTok, "cheap", "", 403, "client carol may not use"},
		{carolTok, "simgemini/" + rtGeminiModel, "", 403, "client carol may not use"},
		{"", "fast", "", 401, "missing or wrong proxy token"},
		{daveTok, "fast", e.geminiT, 200, ""},
		{carolTok, "no-such-model", "", 404, ""}, // handed on to the proxy: no connector at /
		{daveTok, "simgemini/invented-by-dave", "simgemini/invented-by-dave", 404, "not found"},
		{daveTok, "fast", "", 429, "client dave is over its own limit of 2 requests a minute"},
	} {
		code, body, hdr := chat(c.tok, c.model)
		if code != c.want || !strings.Contains(body, c.says) || !strings.HasPrefix(hdr.Get("X-Apijongler-Target"), c.target) {
			t.Fatalf("%.5s… %s: %d %q %s, want %d %q %s", c.tok, c.model, code, hdr.Get("X-Apijongler-Target"), body, c.want, c.target, c.says)
		}
	}
	code, status, _ := call(t, "GET", p.url+"/status/clients", carolTok, "")
	var clients []struct {
		Name     string
		Requests int64
		Limited  int64
	}
	if code != 200 || json.Unmarshal([]byte(status), &clients) != nil || len(clients) != 2 ||
		clients[0].Requests != 4 || clients[1].Requests != 2 || clients[1].Limited != 1 {
		t.Fatalf("/status/clients: %d %s", code, status)
	}
	_, metrics, _ := call(t, "GET", p.url+"/metrics", carolTok, "")
	routeLines := grepLines(metrics, "apijongler_route_")
	if strings.Contains(routeLines, "invented-by-dave") || !strings.Contains(routeLines, `target="simgemini/other"`) {
		t.Errorf("/metrics: a client's pinned model is a label of its own:\n%s", grepLines(metrics, "route"))
	}
	p.stop(t, os.Interrupt)
	log := p.stderr.String()
	if !strings.Contains(log, "client_name=carol") || !strings.Contains(log, "client_name=dave") {
		t.Errorf("the routes' access log does not name the clients:\n%s", log)
	}
	for _, v := range append(e.values, carolTok, daveTok) {
		if strings.Contains(log, v) || strings.Contains(metrics, v) {
			t.Errorf("a key or a token is in the log or the metrics")
		}
	}
}

// TestServeDashboardRoutesAndClients: the dashboard's data names the
// target each route would use now, and moves on when the first is spent,
// and counts each named client's requests (never its token);
// its actions are logged with the named client that asked, and a client of
// the tokens file gets in where a wrong token gets 401.
func TestServeDashboardRoutesAndClients(t *testing.T) {
	e := newRoutesEnv(t, "")
	const carolTok = "carol-token-0123456789abcdef"
	tokens := writeSecret(t, e.dir, "tokens", "carol "+carolTok+"\n", 0o600)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--tokens-file", tokens)
	var d dashData
	next := func() string {
		t.Helper()
		code, body := adminCall(t, "GET", p.url+adminData, carolTok, "")
		d = dashData{}
		if code != 200 || json.Unmarshal([]byte(body), &d) != nil || len(d.Routes) != 1 || d.Routes[0].Name != "fast" {
			t.Fatalf("%s: %d %s", adminData, code, body)
		}
		if strings.Contains(body, carolTok) {
			t.Fatalf("%s holds the token", adminData)
		}
		return d.Routes[0].Target
	}
	if got := next(); got != e.geminiT {
		t.Fatalf("before any request: fast would use %q, want %s", got, e.geminiT)
	}
	for range 3 { // Gemini's 2 a minute, then its 429: its quota is learned
		call(t, "POST", p.url+"/v1/chat/completions", carolTok, `{"model":"`+e.geminiT+`","messages":[{"role":"user","content":"Hi"}]}`)
	}
	if got := next(); got != e.groqT {
		t.Fatalf("Gemini spent: fast would use %q, want %s", got, e.groqT)
	}
	if len(d.Clients) != 1 || d.Clients[0].Name != "carol" || d.Clients[0].Requests != 3 || d.Clients[0].ThisMinute < 1 {
		t.Fatalf("the dashboard's clients: %+v, want carol's 3 requests", d.Clients)
	}
	if code, _ := adminCall(t, "GET", p.url+adminData, "wrong-token-0123456789", ""); code != 401 {
		t.Fatalf("a wrong token: %d", code)
	}
	if code, body := adminCall(t, "POST", p.url+adminReset, carolTok, `{"connector":"simgemini","key":"key1"}`); code != 200 {
		t.Fatalf("reset: %d %s", code, body)
	}
	p.stop(t, os.Interrupt)
	if log := p.stderr.String(); !strings.Contains(log, "action=reset connector=simgemini key=key1 client_name=carol") {
		t.Errorf("the reset is not logged with its client:\n%s", log)
	}
}
