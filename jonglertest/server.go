package jonglertest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"
)

// Key is one API key the server knows.
//
// Formatting a Key with any fmt verb shows its Label and Project only, never
// its Value, so keys can be logged safely.
type Key struct {
	// Label names the key in Stats; it must be unique. It defaults to "key1",
	// "key2"... after the key's position in Config.Keys.
	Label string
	// Value is the secret a client sends; it must be unique and not empty.
	Value string
	// Project is the Google Cloud project the key belongs to: keys of one
	// project share its quotas. It defaults to "project-" + Label, one
	// project per key.
	Project string
	// Leaked makes the server answer 403 PERMISSION_DENIED "Your API key was
	// reported as leaked".
	Leaked bool
	// Invalid makes the server answer 400 API_KEY_INVALID, as for a key it
	// does not know.
	Invalid bool
}

// Format implements fmt.Formatter. It prints the label and project of k, for
// every verb, and never its value.
func (k Key) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "Key{Label: %q, Project: %q", k.Label, k.Project)
	if k.Leaked {
		fmt.Fprint(f, ", Leaked")
	}
	if k.Invalid {
		fmt.Fprint(f, ", Invalid")
	}
	fmt.Fprint(f, "}")
}

// checked returns k, the i-th key of a configuration, with its Label and
// Project defaulted; it panics if k has no Value, or one that dup says
// another key has.
func (k Key) checked(i int, dup func(value string) bool) Key {
	if k.Label == "" {
		k.Label = fmt.Sprintf("key%d", i+1)
	}
	if k.Project == "" {
		k.Project = "project-" + k.Label
	}
	if k.Value == "" {
		panic(fmt.Sprintf("jonglertest: %v has no Value", k))
	}
	if dup(k.Value) {
		panic(fmt.Sprintf("jonglertest: %v has the same Value as another key", k))
	}
	return k
}

// Config configures a [Server]. The zero value is usable: a server with no
// keys, [DefaultModels], and simulated time running at wall speed from now.
// Durations are wall time unless said otherwise.
type Config struct {
	// Keys are the API keys the server accepts (or refuses: see Key).
	Keys []Key
	// Models maps model names, like "gemini-2.5-flash", to their quotas.
	// Other models get 404 NOT_FOUND. Empty means DefaultModels().
	Models map[string]Quota
	// Minute is the wall duration of one simulated minute: time.Minute (the
	// default) runs the simulation in real time, 60*time.Millisecond a
	// thousand times faster. See Clock.
	Minute time.Duration
	// Start is the simulated time when NewServer returns. Zero means
	// time.Now(). Simulated times are given in Start's location.
	Start time.Time

	// Latency delays every successful answer, before its first byte.
	// Errors are answered at once (unless Faults.Slow strikes).
	Latency time.Duration
	// StreamChunks is the number of data chunks of a streamed answer;
	// 0 means 3.
	StreamChunks int
	// StreamGap is the pause between two chunks of a streamed answer;
	// 0 means 5ms, a negative value no pause.
	StreamGap time.Duration

	// Faults injects failures; see Faults.
	Faults Faults
	// Seed seeds the generator behind Fault.Rate. The same seed gives the
	// same decisions; zero is a seed like any other.
	Seed int64

	// MessageOnly makes quota refusals use Google's newer format: no
	// QuotaFailure nor RetryInfo, only a Help link, and the quota and the
	// retry delay written in the message ("* Quota exceeded for metric: ...,
	// limit: 10, model: gemini-2.5-flash\nPlease retry in 39.006833842s.").
	MessageOnly bool

	// RateLimitHeaders makes the server a header provider as well: every
	// answer to a quota check (200 and 429) carries the (project, model)'s
	// windows in OpenAI's and Cerebras' headers, simulated time:
	//
	//	x-ratelimit-limit-requests: 10          (RPM)
	//	x-ratelimit-remaining-requests: 0
	//	x-ratelimit-reset-requests: 12.5s       (to the minute window's end)
	//	x-ratelimit-limit-requests-day: 250     (RPD)
	//	x-ratelimit-remaining-requests-day: 199
	//	x-ratelimit-reset-requests-day: 41220.5 (seconds to midnight, Los Angeles)
	//
	// Google sends no such header; this simulates OpenAI, Groq or Cerebras
	// with Gemini's quotas. Unlimited windows are left out.
	RateLimitHeaders bool

	// Reply, if set, returns the text of the answer to prompt, the text of
	// the last message of a request. It may be called concurrently. The
	// default answer quotes the model and the prompt.
	Reply func(model, prompt string) string
}

// Server is a simulated Gemini API, listening on 127.0.0.1 like an
// [httptest.Server]. It serves
//
//	POST /v1beta/models/{model}:generateContent
//	POST /v1beta/models/{model}:streamGenerateContent?alt=sse   (server-sent events)
//	POST /v1beta/models/{model}:streamGenerateContent           (JSON array)
//	POST /v1/models/{model}:generateContent                     (and stream, as above)
//	POST /v1beta/openai/chat/completions                        (OpenAI-compatible; "stream": true for SSE)
//
// The API key is read from the x-goog-api-key header, the key query
// parameter or an "Authorization: Bearer" header; exactly one must be given.
// Requests are then answered, in this order of checks, with:
//
//   - 403 PERMISSION_DENIED if no key is given, 400 INVALID_ARGUMENT if more
//     than one is;
//   - 400 API_KEY_INVALID for an unknown or Invalid key, 403 leaked for a
//     Leaked key;
//   - 400 INVALID_ARGUMENT for a malformed body (bad JSON, unknown
//     top-level field, no contents or messages);
//   - 404 NOT_FOUND for a model not in Config.Models;
//   - an injected fault, if one strikes (see Faults);
//   - 429 RESOURCE_EXHAUSTED if the (project, model) quota is used up, with
//     a QuotaFailure naming the per-day or per-minute quota, a Help link and
//     a RetryInfo whose retryDelay is the simulated time until the window
//     ends (or Config.MessageOnly's format);
//   - 200 with a generated answer otherwise.
//
// The OpenAI-compatible endpoint and non-SSE streams wrap error bodies in a
// JSON array, as Google does.
//
// All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:port", with no
	// trailing slash: use it as genai.HTTPOptions.BaseURL.
	URL string

	ts        *httptest.Server
	handler   http.Handler
	clock     *Clock
	base      time.Time // start of minute window 0
	la        *time.Location
	models    map[string]Quota
	latency   time.Duration
	chunks    int
	gap       time.Duration
	slowBy    time.Duration
	msgOnly   bool
	rlHeaders bool
	reply     func(model, prompt string) string
	done      chan struct{} // closed by Close: ends all pauses
	closeOnce sync.Once

	mu        sync.Mutex
	keys      map[string]*keyState // by value
	byLabel   map[string]*keyState
	usage     map[projectModel]*windowUse
	faults    *faultState
	stats     statsState
	responses int // answers generated, for response IDs
}

type keyState struct {
	label, project  string
	leaked, invalid bool
	stats           *KeyStats
	inFlight        map[*tracker]struct{} // the requests with this key being served now
}

type projectModel struct{ project, model string }

// NewServer starts and returns a new server. The caller should Close it
// when done. NewServer panics if cfg is inconsistent: a key without value,
// two keys with the same value or label, a negative Minute.
func NewServer(cfg Config) *Server {
	s := newServer(cfg)
	s.Start()
	return s
}

// NewUnstartedServer returns a new server that does not listen yet: call
// Start, or serve [Server.Handler] yourself, for instance in memory inside
// a testing/synctest bubble, where simulated time then moves only when
// every goroutine waits (no network goroutine may run in a bubble). URL is
// "" and Client must not be called until Start.
func NewUnstartedServer(cfg Config) *Server { return newServer(cfg) }

// Start starts a server from [NewUnstartedServer] listening on 127.0.0.1,
// as [NewServer] does. It panics if the server is started already.
func (s *Server) Start() {
	if s.ts != nil {
		panic("jonglertest: Server started twice")
	}
	s.ts = httptest.NewServer(s.handler)
	s.URL = s.ts.URL
}

func newServer(cfg Config) *Server {
	if cfg.Minute < 0 {
		panic("jonglertest: negative Config.Minute")
	}
	if cfg.Minute == 0 {
		cfg.Minute = time.Minute
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if len(cfg.Models) == 0 {
		cfg.Models = DefaultModels()
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
	if cfg.Faults.SlowBy <= 0 {
		cfg.Faults.SlowBy = time.Second
	}
	if cfg.Reply == nil {
		cfg.Reply = defaultReply
	}
	s := &Server{
		clock:     newClock(cfg.Start, cfg.Minute),
		la:        pacific(),
		models:    make(map[string]Quota, len(cfg.Models)),
		latency:   cfg.Latency,
		chunks:    cfg.StreamChunks,
		gap:       cfg.StreamGap,
		slowBy:    cfg.Faults.SlowBy,
		msgOnly:   cfg.MessageOnly,
		rlHeaders: cfg.RateLimitHeaders,
		reply:     cfg.Reply,
		done:      make(chan struct{}),
		keys:      map[string]*keyState{},
		byLabel:   map[string]*keyState{},
		usage:     map[projectModel]*windowUse{},
		faults:    newFaultState(cfg.Faults, cfg.Seed),
		stats:     newStatsState(),
	}
	s.base = s.clock.start.Truncate(time.Minute)
	for m, q := range cfg.Models {
		if m == "" {
			panic("jonglertest: empty model name in Config.Models")
		}
		s.models[m] = q
		s.stats.models[m] = &Counts{}
	}
	for i, k := range cfg.Keys {
		k = k.checked(i, func(v string) bool { _, dup := s.keys[v]; return dup })
		if _, dup := s.byLabel[k.Label]; dup {
			panic(fmt.Sprintf("jonglertest: two keys labelled %q", k.Label))
		}
		ks := &keyState{
			label: k.Label, project: k.Project, leaked: k.Leaked, invalid: k.Invalid,
			stats:    &KeyStats{Project: k.Project, Models: map[string]Counts{}},
			inFlight: map[*tracker]struct{}{},
		}
		s.keys[k.Value] = ks
		s.byLabel[k.Label] = ks
		s.stats.keys[k.Label] = ks.stats
	}
	s.handler = s.routes()
	return s
}

// Close shuts the server down: answers being delayed or streamed end at once
// (the clients see their connection close) and Close returns when all
// handlers have returned. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// Client returns an HTTP client for the server; Close closes its idle
// connections.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Handler returns the server's handler, to mount it on a server of your own
// (HTTP/2 included), with the same quotas, clock and counters as s. After
// Close, it still answers but no longer pauses.
func (s *Server) Handler() http.Handler { return s.handler }

// Clock returns the server's simulated clock.
func (s *Server) Clock() *Clock { return s.clock }

// Now returns the current simulated time; it is s.Clock().Now().
func (s *Server) Now() time.Time { return s.clock.Now() }

// WindowStart returns the simulated start of quota-minute window i of
// [Window.Minute]: window 0 is the minute that contains Config.Start.
func (s *Server) WindowStart(i int64) time.Time {
	return s.base.Add(time.Duration(i) * time.Minute)
}

// window returns the index of the minute window that contains t.
func (s *Server) window(t time.Time) int64 {
	return int64(t.Truncate(time.Minute).Sub(s.base) / time.Minute)
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.snapshot()
}

// Capacity returns the largest number of successes the server can give for
// model in the simulated interval [from, to), if every window starts unused:
// [Quota.Capacity] times the number of projects that have at least one key
// that is neither Leaked nor Invalid. It returns 0 for an unknown model and
// [Unlimited] if the model has no limits. A benchmark divides its successes by
//
//	s.Capacity(model, start, s.Now())
//
// to get its utilisation of the quotas.
func (s *Server) Capacity(model string, from, to time.Time) int {
	q, ok := s.models[model]
	if !ok {
		return 0
	}
	s.mu.Lock()
	projects := map[string]bool{}
	for _, k := range s.keys {
		if !k.leaked && !k.invalid {
			projects[k.project] = true
		}
	}
	s.mu.Unlock()
	if len(projects) == 0 {
		return 0
	}
	c := q.Capacity(from, to)
	if c == Unlimited {
		return Unlimited
	}
	return c * len(projects)
}

// Projects returns the sorted names of the projects of the configured keys.
func (s *Server) Projects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.keys {
		if !slices.Contains(out, k.project) {
			out = append(out, k.project)
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}

// Leak marks the key labelled label as reported leaked, from now on. It
// panics if no key has that label.
func (s *Server) Leak(label string) { s.setKey(label, func(k *keyState) { k.leaked = true }) }

// Invalidate marks the key labelled label as invalid (deleted, expired), from
// now on. It panics if no key has that label.
func (s *Server) Invalidate(label string) { s.setKey(label, func(k *keyState) { k.invalid = true }) }

func (s *Server) setKey(label string, f func(*keyState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byLabel[label]
	if !ok {
		panic(fmt.Sprintf("jonglertest: no key labelled %q", label))
	}
	f(k)
}

// InjectFaults makes the next n eligible requests (see [Fault]) suffer the
// fault kind, in addition to the faults of Config.Faults. Calls add up. An
// injected fault is used up by the request it strikes even if another fault
// takes precedence there (see [Faults]): to get a 503 then a 500, inject them
// one after the other, not together.
func (s *Server) InjectFaults(kind FaultKind, n int) {
	if kind < FaultOverloaded || kind > FaultCut {
		panic(fmt.Sprintf("jonglertest: InjectFaults with unknown %v", kind))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.pending[kind] += n
}
