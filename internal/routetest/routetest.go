// Package routetest runs three simulated free tiers at once, for the
// tests, the demo and the benchmark of routes: a Gemini API writing
// RetryInfo/QuotaFailure 429s (jonglertest.Server), a header-style
// provider writing x-ratelimit-* headers (jonglertest.Provider, as Groq),
// and an unlimited one (as Cerebras), each behind a jongler.Transport of
// its bundled connector, all on one simulated clock.
package routetest

import (
	"log/slog"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
	"github.com/api-jongler/jongler/route"
)

// The models of the three tiers, as each provider names it.
const (
	GeminiModel   = "gemini-2.5-flash"
	GroqModel     = "llama-3.3-70b-versatile"
	CerebrasModel = "llama3.3-70b"
)

// The three targets, and the route over them in that order.
var (
	GeminiTarget   = route.Target{Connector: jongler.ConnectorGemini, Model: GeminiModel}
	GroqTarget     = route.Target{Connector: jongler.ConnectorGroq, Model: GroqModel}
	CerebrasTarget = route.Target{Connector: jongler.ConnectorCerebras, Model: CerebrasModel}
)

// Config sets the tiers' quotas; the zero value gives each limited tier 2
// requests a minute, no token limit, and a minute of 600 ms.
type Config struct {
	Minute    time.Duration // wall time of a simulated minute
	GeminiRPM int           // requests per minute of Gemini's free tier
	// GeminiInputTPM is its input tokens per minute; 0: no limit.
	GeminiInputTPM int
	GroqRPM        int // requests per minute of the header-style tier
	GroqTPM        int // its tokens per minute; 0: no limit
	// CerebrasRPM limits the third tier too; 0: unlimited.
	CerebrasRPM int
	Logger      *slog.Logger // the transports' log; nil: none
	Start       time.Time    // simulated start; zero: 09:00:00 UTC on a fixed day
}

// Tiers are the three simulated providers and their transports.
type Tiers struct {
	Gemini     *jonglertest.Server
	Groq       *jonglertest.Provider
	Cerebras   *jonglertest.Provider
	Clock      *jonglertest.Clock
	Transports []*jongler.Transport // Gemini's, Groq's, Cerebras'
	Store      jongler.Store
}

// Route returns the route called name over the three tiers, in order.
func Route(name string, maxWait time.Duration) route.Route {
	return route.Route{Name: name, Targets: []route.Target{GeminiTarget, GroqTarget, CerebrasTarget}, MaxWait: maxWait}
}

// New starts the tiers. Close them when done.
func New(cfg Config) (*Tiers, error) {
	if cfg.Minute <= 0 {
		cfg.Minute = 600 * time.Millisecond
	}
	if cfg.GeminiRPM == 0 {
		cfg.GeminiRPM = 2
	}
	if cfg.GroqRPM == 0 {
		cfg.GroqRPM = 2
	}
	if cfg.GroqTPM == 0 {
		cfg.GroqTPM = jonglertest.Unlimited
	}
	if cfg.CerebrasRPM == 0 {
		cfg.CerebrasRPM = jonglertest.Unlimited
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tiers{Store: jongler.NewMemoryStore()}
	t.Gemini = jonglertest.NewServer(jonglertest.Config{
		Keys:   []jonglertest.Key{{Label: "gemini-key", Value: "AIza-sim-gemini-key-000000000000000001"}},
		Models: map[string]jonglertest.Quota{GeminiModel: {RPM: cfg.GeminiRPM, RPD: jonglertest.Unlimited, InputTPM: cfg.GeminiInputTPM}},
		Minute: cfg.Minute, Start: cfg.Start, StreamGap: -1,
	})
	t.Clock = t.Gemini.Clock()
	t.Groq = jonglertest.NewProvider(jonglertest.ProviderConfig{
		Keys:   []jonglertest.Key{{Label: "groq-key", Value: "gsk_sim_groq_key_0000000000000000002"}},
		Models: map[string]jonglertest.Limits{GroqModel: {RPM: cfg.GroqRPM, TPM: cfg.GroqTPM}},
		Path:   "/openai/v1", Clock: t.Clock, StreamGap: -1,
	})
	t.Cerebras = jonglertest.NewProvider(jonglertest.ProviderConfig{
		Keys:   []jonglertest.Key{{Label: "cerebras-key", Value: "csk-sim-cerebras-key-00000000000003"}},
		Models: map[string]jonglertest.Limits{CerebrasModel: {RPM: cfg.CerebrasRPM, TPM: jonglertest.Unlimited}},
		Path:   "/v1", Clock: t.Clock, StreamGap: -1,
	})
	for _, c := range []struct {
		name, url, key string
	}{
		{jongler.ConnectorGemini, t.Gemini.URL, "AIza-sim-gemini-key-000000000000000001"},
		{jongler.ConnectorGroq, t.Groq.URL, "gsk_sim_groq_key_0000000000000000002"},
		{jongler.ConnectorCerebras, t.Cerebras.URL, "csk-sim-cerebras-key-00000000000003"},
	} {
		tr, err := jongler.NewTransport(c.name, jongler.WithBaseURL(c.url), jongler.WithStore(t.Store),
			jongler.WithKeys(jongler.Key{Name: "key1", Value: c.key}), jongler.WithClock(t.Clock),
			jongler.WithNoKeyAnswer(), jongler.WithLogger(cfg.Logger))
		if err != nil {
			t.Close()
			return nil, err
		}
		t.Transports = append(t.Transports, tr)
	}
	return t, nil
}

// KeyValues are the three tiers' key values, for checking that none
// leaks.
func KeyValues() []string {
	return []string{"AIza-sim-gemini-key-000000000000000001", "gsk_sim_groq_key_0000000000000000002", "csk-sim-cerebras-key-00000000000003"}
}

// Close closes the transports and the providers.
func (t *Tiers) Close() {
	for _, tr := range t.Transports {
		tr.Close()
	}
	for _, c := range []interface{ Close() }{t.Gemini, t.Groq, t.Cerebras} {
		if c != nil {
			c.Close()
		}
	}
}
