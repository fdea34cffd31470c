package jonglertest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits are a header-style provider's limits for one model, counted for
// each project in fixed minute windows of simulated time: requests, and
// tokens (a request's prompt and answer). A limit of 0 lets nothing
// through; [Unlimited] means no limit.
type Limits struct {
	RPM int // requests per minute and project
	TPM int // tokens per minute and project, prompt and answer
}

// ProviderConfig configures a [Provider]. The zero value is usable: no
// keys, one model "model" with no limits, under /v1, simulated time at wall
// speed from now.
type ProviderConfig struct {
	// Keys are the API keys the provider accepts, sent as "Authorization:
	// Bearer KEY". Label and Project default as in [Config]; Leaked and
	// Invalid keys get 401.
	Keys []Key
	// Models maps model names to their limits; other models get 404.
	// Empty means {"model": {Unlimited, Unlimited}}.
	Models map[string]Limits
	// Path is the prefix of the OpenAI-compatible API, such as "/v1" (the
	// default) or "/openai/v1".
	Path string
	// Clock is the simulated clock, shared with other simulated servers
	// (a [Server]'s Clock()) so that their windows agree; nil: a clock of
	// its own from Start and Minute, as [Config]'s.
	Clock  *Clock
	Start  time.Time
	Minute time.Duration
	// StreamChunks and StreamGap shape streamed answers, as in [Config].
	StreamChunks int
	StreamGap    time.Duration
	// Reply returns the text of the answer to prompt; nil: as [Config].
	Reply func(model, prompt string) string
}

// Provider is a simulated OpenAI-compatible API that states its limits
// in headers, as OpenAI, Groq and Cerebras do, listening on 127.0.0.1. It
// serves
//
//	POST {Path}/chat/completions   ("stream": true for server-sent events)
//	POST {Path}/embeddings
//	GET  {Path}/models
//
// Every answer to a known key and model, 200 and 429, carries
//
//	x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests
//	x-ratelimit-limit-tokens,   x-ratelimit-remaining-tokens,   x-ratelimit-reset-tokens
//
// for the project's current minute (limits that are Unlimited left out),
// resets as Go durations of simulated time ("12.5s"). A request the
// requests window, or the tokens window with the request's prompt, cannot
// take is answered 429 in OpenAI's shape ({"error":{"message","type":
// "requests" or "tokens","code":"rate_limit_exceeded"}}) with Retry-After,
// in whole seconds, until the window's end. Answers carry usage
// (prompt_tokens about a token per four characters of the messages).
//
// All methods are safe for concurrent use.
type Provider struct {
	// URL is the provider's address, "http://127.0.0.1:port".
	URL string

	ts     *httptest.Server
	clock  *Clock
	path   string
	models map[string]Limits
	chunks int
	gap    time.Duration
	reply  func(model, prompt string) string
	done   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	keys  map[string]Key // by value
	use   map[projectModel]*providerUse
	stats ProviderStats
	n     int
}

// providerUse is a project's use of a model in one minute window.
type providerUse struct {
	start            time.Time
	requests, tokens int
}

// ProviderStats are a [Provider]'s counters.
type ProviderStats struct {
	Requests    int // requests received
	Served      int // 200 answers
	RateLimited int // 429 answers
	Failed      int // other errors
}

// NewProvider starts a Provider; Close it when done. It panics if cfg is
// inconsistent (a key without value, two keys of one value).
func NewProvider(cfg ProviderConfig) *Provider {
	if cfg.Path == "" {
		cfg.Path = "/v1"
	}
	if len(cfg.Models) == 0 {
		cfg.Models = map[string]Limits{"model": {Unlimited, Unlimited}}
	}
	if cfg.Clock == nil {
		if cfg.Minute <= 0 {
			cfg.Minute = time.Minute
		}
		if cfg.Start.IsZero() {
			cfg.Start = time.Now()
		}
		cfg.Clock = newClock(cfg.Start, cfg.Minute)
	}
	if cfg.StreamChunks <= 0 {
		cfg.StreamChunks = 3
	}
	switch {
	case cfg.StreamGap == 0:
		cfg.StreamGap = 5 * time.Millisecond
	case cfg.StreamGap < 0:
		cfg.StreamGap = 0
	}
	if cfg.Reply == nil {
		cfg.Reply = defaultReply
	}
	p := &Provider{clock: cfg.Clock, path: strings.TrimSuffix(cfg.Path, "/"), models: cfg.Models, chunks: cfg.StreamChunks,
		gap: cfg.StreamGap, reply: cfg.Reply, done: make(chan struct{}), keys: map[string]Key{}, use: map[projectModel]*providerUse{}}
	for i, k := range cfg.Keys {
		k = k.checked(i, func(v string) bool { _, dup := p.keys[v]; return dup })
		p.keys[k.Value] = k
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+p.path+"/chat/completions", func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, false) })
	mux.HandleFunc("POST "+p.path+"/embeddings", func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, true) })
	mux.HandleFunc("GET "+p.path+"/models", p.serveModels)
	p.ts = httptest.NewServer(mux)
	p.URL = p.ts.URL
	return p
}

// Close shuts the provider down; streams being written end at once.
func (p *Provider) Close() {
	p.once.Do(func() {
		close(p.done)
		p.ts.Close()
	})
}

// Clock returns the provider's simulated clock.
func (p *Provider) Clock() *Clock { return p.clock }

// Stats returns a snapshot of the provider's counters.
func (p *Provider) Stats() ProviderStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// openAIError writes an error in OpenAI's shape.
func openAIError(w http.ResponseWriter, code int, typ, errCode, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": errCode}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func (p *Provider) serveModels(w http.ResponseWriter, r *http.Request) {
	type model struct {
		ID     string `json:"id"`
		Object string `json:"object"`
	}
	var data []model
	for m := range p.models {
		data = append(data, model{m, "model"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

func (p *Provider) count(f func(*ProviderStats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// serve answers a chat completion or an embeddings request.
func (p *Provider) serve(w http.ResponseWriter, r *http.Request, embed bool) {
	p.count(func(s *ProviderStats) { s.Requests++ })
	scheme, value, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	key, known := p.keys[strings.TrimSpace(value)]
	p.mu.Unlock()
	if !strings.EqualFold(scheme, "Bearer") || !known || key.Leaked || key.Invalid {
		p.count(func(s *ProviderStats) { s.Failed++ })
		openAIError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Invalid API Key")
		return
	}
	var req struct {
		Model    string          `json:"model"`
		Stream   bool            `json:"stream"`
		Input    json.RawMessage `json:"input"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil || json.Unmarshal(body, &req) != nil || (!embed && len(req.Messages) == 0) {
		p.count(func(s *ProviderStats) { s.Failed++ })
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request", "The request body is not a valid request.")
		return
	}
	lim, ok := p.models[req.Model]
	if !ok {
		p.count(func(s *ProviderStats) { s.Failed++ })
		openAIError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
		return
	}
	var texts []string
	for _, m := range req.Messages {
		texts = append(texts, messageText(m.Content))
	}
	prompt := strings.Join(texts, "\n")
	if embed {
		prompt = messageText(req.Input)
		if prompt == "" {
			prompt = string(req.Input)
		}
	}
	last := prompt
	if n := len(req.Messages); n > 0 {
		last = messageText(req.Messages[n-1].Content)
	}
	var text string
	if !embed {
		text = p.reply(req.Model, last)
	}
	in, out := tokens(prompt), tokens(text)

	now := p.clock.Now()
	p.mu.Lock()
	pm := projectModel{key.Project, req.Model}
	u := p.use[pm]
	if u == nil || !u.start.Equal(now.Truncate(time.Minute)) {
		u = &providerUse{start: now.Truncate(time.Minute)}
		p.use[pm] = u
	}
	refusal := ""
	switch {
	case lim.RPM != Unlimited && u.requests >= lim.RPM:
		refusal = "requests"
	case lim.TPM != Unlimited && u.tokens+in > lim.TPM:
		refusal = "tokens"
	default:
		u.requests++
		u.tokens += in + out
	}
	used := *u
	if refusal == "" {
		p.stats.Served++
		p.n++
	} else {
		p.stats.RateLimited++
	}
	id := fmt.Sprintf("chatcmpl-sim-%d", p.n)
	p.mu.Unlock()

	reset := used.start.Add(time.Minute).Sub(now)
	setProviderHeaders(w.Header(), lim, used, reset)
	if refusal != "" {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(reset.Seconds())), 10))
		limit, have := lim.RPM, used.requests
		if refusal == "tokens" {
			limit, have = lim.TPM, used.tokens
		}
		openAIError(w, http.StatusTooManyRequests, refusal, "rate_limit_exceeded",
			fmt.Sprintf("Rate limit reached for model `%s` in organization `%s` on %s per min: Limit %d, Used %d, Requested %d. Please try again in %s.",
				req.Model, key.Project, refusal, limit, have, max(in, 1), reset.Round(time.Millisecond)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if embed {
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": req.Model,
			"data":  []any{map[string]any{"object": "embedding", "index": 0, "embedding": []float64{0.25, -0.5, 0.75}}},
			"usage": map[string]int{"prompt_tokens": in, "total_tokens": in}})
		return
	}
	created := now.Unix()
	if !req.Stream {
		json.NewEncoder(w).Encode(chatChunks(req.Model, id, created, prompt, text, 0)[0])
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i, c := range chatChunks(req.Model, id, created, prompt, text, p.chunks) {
		if i > 0 && !p.pause(r, p.gap) {
			return
		}
		w.Write(sseEvent(marshal(c)))
		rc.Flush()
	}
	w.Write([]byte("data: [DONE]\n\n"))
	rc.Flush()
}

// pause waits d of wall time, false if the client left or the provider
// is closing.
func (p *Provider) pause(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-p.done:
	}
	return false
}

// setProviderHeaders writes the requests and tokens windows after use u,
// resetting in reset.
func setProviderHeaders(h http.Header, lim Limits, u providerUse, reset time.Duration) {
	if lim.RPM != Unlimited {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(lim.RPM))
		h.Set("x-ratelimit-remaining-requests", strconv.Itoa(max(lim.RPM-u.requests, 0)))
		h.Set("x-ratelimit-reset-requests", reset.String())
	}
	if lim.TPM != Unlimited {
		h.Set("x-ratelimit-limit-tokens", strconv.Itoa(lim.TPM))
		h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(max(lim.TPM-u.tokens, 0)))
		h.Set("x-ratelimit-reset-tokens", reset.String())
	}
}
