package route

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/api-jongler/jongler"
)

// TargetHeader names, on every answer, the target that served it as
// "CONNECTOR/MODEL".
const TargetHeader = "X-Apijongler-Target"

// Target is a connector's model: somewhere a route may send a request.
type Target struct {
	// Connector is the connector's name (an alias is resolved by New).
	Connector string
	// Model is the model as the provider names it; the upstream gets it
	// in the body's "model".
	Model string
}

// String returns "CONNECTOR/MODEL".
func (t Target) String() string { return t.Connector + "/" + t.Model }

// Route is a name for an ordered list of targets.
type Route struct {
	// Name is what a client puts in the body's "model": no '/', ',' or
	// space.
	Name string
	// Targets are tried in this order.
	Targets []Target
	// MaxWait is how long a request may wait for the first target to have
	// headroom again when every one is spent; 0: not at all, answer 429.
	MaxWait time.Duration
}

// An Option configures a [Handler].
type Option func(*config)

type config struct {
	clock   jongler.Clock
	log     *slog.Logger
	meters  metric.MeterProvider
	maxBody int64
	next    http.Handler
}

// WithClock sets the clock headroom is judged and waited for on: give
// the transports' own (a test's simulated clock); default the real one.
func WithClock(c jongler.Clock) Option { return func(o *config) { o.clock = c } }

// WithAccessLog logs one line per request to l, at level Info: the route,
// the target that served it, the targets skipped as spent and those fallen
// back from; never a body, a token or a key.
func WithAccessLog(l *slog.Logger) Option { return func(o *config) { o.log = l } }

// WithMeterProvider counts, per route and target, the requests served,
// skipped as spent and fallen back from, in the counter
// apijongler.route.targets; default none.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *config) { o.meters = mp } }

// DefaultMaxBodyBytes bounds request bodies unless [WithMaxBodyBytes]
// says otherwise.
const DefaultMaxBodyBytes = 32 << 20

// WithMaxBodyBytes bounds request bodies to n bytes; a longer one gets
// 413.
func WithMaxBodyBytes(n int64) Option { return func(o *config) { o.maxBody = n } }

// WithFallback passes to next, body intact, the requests the handler has
// nothing for: a chat completion or embeddings request whose model names
// no route nor routable connector, GET /v1/models when there are no
// routes, and any other path; without it, those are answered 404 (an
// empty list for GET /v1/models). A server that also proxies a
// connector's own /v1 API at its root keeps serving it so.
func WithFallback(next http.Handler) Option { return func(o *config) { o.next = next } }

// New returns a Handler routing over transports (one per connector; only
// those whose connector has an OpenAIPath can be targets) along routes.
// A route naming a connector that is not among the transports, or one
// without an OpenAI path, is an error naming the route and the target.
func New(transports []*jongler.Transport, routes []Route, opts ...Option) (*Handler, error) {
	cfg := config{maxBody: DefaultMaxBodyBytes}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = realClock{}
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.maxBody <= 0 {
		cfg.maxBody = DefaultMaxBodyBytes
	}
	h := &Handler{cfg: cfg, conns: map[string]*conn{}, routes: map[string]*Route{}, tokens: map[Target]*tokenWindow{}, known: map[Target]bool{}}
	for _, t := range transports {
		c := t.Connector()
		if c.OpenAIPath == "" {
			continue
		}
		cn := &conn{t: t, c: c}
		h.conns[c.Name] = cn
		for _, a := range c.Aliases {
			if _, taken := h.conns[a]; !taken {
				h.conns[a] = cn
			}
		}
	}
	for _, r := range routes {
		if r.Name == "" || strings.ContainsAny(r.Name, "/, \t") {
			return nil, fmt.Errorf("route: %q is not a route name (no '/', ',' or space)", r.Name)
		}
		if _, dup := h.routes[r.Name]; dup {
			return nil, fmt.Errorf("route: route %q is given twice", r.Name)
		}
		if len(r.Targets) == 0 {
			return nil, fmt.Errorf("route: route %q has no targets", r.Name)
		}
		rc := r
		rc.Targets = slices.Clone(r.Targets)
		for i, t := range rc.Targets {
			cn, ok := h.conns[t.Connector]
			if !ok || t.Model == "" {
				return nil, fmt.Errorf("route: route %q, target %q: %s", r.Name, t.String(), h.whyNot(t.Connector, transports))
			}
			rc.Targets[i].Connector = cn.c.Name
		}
		h.routes[r.Name] = &rc
		h.order = append(h.order, r.Name)
		for _, t := range rc.Targets {
			h.known[t] = true
		}
	}
	var err error
	if h.tel, err = newTelemetry(cfg.meters); err != nil {
		return nil, err
	}
	return h, nil
}

// whyNot says why connector cannot be a target.
func (h *Handler) whyNot(connector string, transports []*jongler.Transport) string {
	for _, t := range transports {
		c := t.Connector()
		if c.Name == connector || slices.Contains(c.Aliases, connector) {
			return fmt.Sprintf("connector %s has no \"openai_path\": it cannot be a target", c.Name)
		}
	}
	known := slices.Sorted(maps.Keys(h.conns))
	return fmt.Sprintf("connector %q is not served here (routable: %s)", connector, strings.Join(known, ", "))
}

// Names returns the routes' names, in the order given to New.
func (h *Handler) Names() []string { return slices.Clone(h.order) }

// Models returns what GET /v1/models lists: every route's name, then
// every target the routes name, as "CONNECTOR/MODEL", each once.
func (h *Handler) Models() []string {
	out := slices.Clone(h.order)
	for _, n := range h.order {
		for _, t := range h.routes[n].Targets {
			if s := t.String(); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// Next returns the target a request for the route name would go to now
// (the first with headroom, as a request's is chosen) and true; false
// when name is no route or none of its targets has headroom now. It sends
// nothing.
func (h *Handler) Next(ctx context.Context, name string) (Target, bool) {
	r, ok := h.routes[name]
	if !ok {
		return Target{}, false
	}
	for _, t := range r.Targets {
		at, err := h.conns[t.Connector].t.Headroom(ctx, t.Model)
		if err != nil {
			continue
		}
		now := h.cfg.clock.Now()
		if !at.IsZero() && !at.After(now) {
			at = h.tokenWindow(t).headroom(now, 0)
		}
		if !at.IsZero() && !at.After(now) {
			return t, true
		}
	}
	return Target{}, false
}

// Has reports whether model names a route or a pinned target
// ("CONNECTOR/MODEL" of a routable connector served here): what the
// handler serves rather than answers 404.
func (h *Handler) Has(model string) bool {
	_, ok := h.resolve(model)
	return ok
}

// resolve returns the targets model names: a route's, or the one pinned.
func (h *Handler) resolve(model string) ([]Target, bool) {
	if r, ok := h.routes[model]; ok {
		return r.Targets, true
	}
	conn, m, ok := strings.Cut(model, "/")
	if !ok || m == "" {
		return nil, false
	}
	cn, ok := h.conns[conn]
	if !ok {
		return nil, false
	}
	return []Target{{Connector: cn.c.Name, Model: m}}, true
}
