package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/errshape"
	"github.com/api-jongler/jongler/internal/reqinfo"
	"github.com/api-jongler/jongler/proxy"
)

// Handler is the routing endpoint; see the package documentation. It is
// safe for concurrent use.
type Handler struct {
	cfg    config
	conns  map[string]*conn // by connector name and alias
	routes map[string]*Route
	order  []string
	tel    *telemetry

	known map[Target]bool // the routes' targets: metric labels of their own

	mu     sync.Mutex
	tokens map[Target]*tokenWindow
}

// label returns t as the metrics name it: a target of a route by its
// name, another (one a client pinned) as its connector's "other", so that
// clients cannot make labels without bound.
func (h *Handler) label(t Target) string {
	if h.known[t] {
		return t.String()
	}
	return t.Connector + "/other"
}

// allowed returns the targets of ts that r's client may use: all of them
// for a route it may use by name, else those of connectors it may use
// ([proxy.AllowedFromContext]).
func (h *Handler) allowed(ctx context.Context, name string, ts []Target) []Target {
	if _, isRoute := h.routes[name]; isRoute && proxy.AllowedFromContext(ctx, name) {
		return ts
	}
	var out []Target
	for _, t := range ts {
		c := h.conns[t.Connector].c
		if proxy.AllowedFromContext(ctx, append([]string{c.Name}, c.Aliases...)...) {
			out = append(out, t)
		}
	}
	return out
}

// conn is a routable connector and its transport.
type conn struct {
	t *jongler.Transport
	c jongler.Connector
}

// placeholder is the credential the handler sends: the transport puts
// the key in its place.
const placeholder = "apijongler-route"

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	next := h.cfg.next
	switch {
	case next != nil && (r.URL.Path == "/v1/models" && len(h.order) == 0 ||
		r.URL.Path != "/v1/models" && r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/v1/embeddings"):
		next.ServeHTTP(w, r)
	case r.URL.Path == "/v1/models":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			errshape.Write(w, errshape.OpenAI, http.StatusMethodNotAllowed, "apijongler: GET /v1/models", 0)
			return
		}
		h.serveModels(w)
	case r.URL.Path == "/v1/chat/completions" || r.URL.Path == "/v1/embeddings":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			errshape.Write(w, errshape.OpenAI, http.StatusMethodNotAllowed, "apijongler: POST "+r.URL.Path, 0)
			return
		}
		h.serveRequest(w, r, strings.TrimPrefix(r.URL.Path, "/v1"), next)
	default:
		errshape.Write(w, errshape.OpenAI, http.StatusNotFound, "apijongler: routes serve /v1/chat/completions, /v1/embeddings and /v1/models", 0)
	}
}

// serveModels answers GET /v1/models in OpenAI's list shape.
func (h *Handler) serveModels(w http.ResponseWriter) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, id := range h.Models() {
		owner := "apijongler"
		if c, _, ok := strings.Cut(id, "/"); ok {
			owner = c
		}
		list.Data = append(list.Data, model{ID: id, Object: "model", OwnedBy: owner})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

// request is a client's request, read.
type request struct {
	fields  map[string]json.RawMessage
	model   string // as the client named it
	label   string // the model if it names a route or target, else "models"
	targets []Target
	stream  bool
	est     int64 // estimated input tokens
	maxWait time.Duration
	path    string // "/chat/completions" or "/embeddings"
	accept  string
}

// readRequest reads and checks r's body, answering the client itself
// (and returning nil) when it cannot be served.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request, path string, next http.Handler) *request {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			errshape.Write(w, errshape.OpenAI, http.StatusRequestEntityTooLarge, "apijongler: request body over "+strconv.FormatInt(h.cfg.maxBody, 10)+" bytes", 0)
		} else {
			errshape.Write(w, errshape.OpenAI, http.StatusBadRequest, "apijongler: the request body could not be read", 0)
		}
		return nil
	}
	rq := &request{path: path, accept: r.Header.Get("Accept"), est: int64(len(body)+3) / 4}
	if err := json.Unmarshal(body, &rq.fields); err != nil || rq.fields == nil {
		errshape.Write(w, errshape.OpenAI, http.StatusBadRequest, "apijongler: the request body is not a JSON object", 0)
		return nil
	}
	if json.Unmarshal(rq.fields["model"], &rq.model) != nil {
		errshape.Write(w, errshape.OpenAI, http.StatusBadRequest, `apijongler: the body's "model" is not a string`, 0)
		return nil
	}
	json.Unmarshal(rq.fields["stream"], &rq.stream)
	names := []string{rq.model}
	if raw, ok := rq.fields["models"]; ok {
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			errshape.Write(w, errshape.OpenAI, http.StatusBadRequest, `apijongler: the body's "models" is not a list of strings`, 0)
			return nil
		}
		if len(list) > 0 {
			names = list
		}
		delete(rq.fields, "models") // the router's, not the upstream's
	}
	for _, n := range names {
		ts, ok := h.resolve(n)
		if !ok && next != nil && len(names) == 1 {
			// Not a route's: the request as it came, to the fallback.
			r2 := r.Clone(r.Context())
			r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			next.ServeHTTP(w, r2)
			return nil
		}
		if !ok {
			writeModelNotFound(w, n, h.Names())
			return nil
		}
		ts = h.allowed(r.Context(), n, ts)
		for _, t := range ts {
			if !slices.Contains(rq.targets, t) {
				rq.targets = append(rq.targets, t)
			}
		}
		if rt, ok := h.routes[n]; ok {
			rq.maxWait = max(rq.maxWait, rt.MaxWait)
		}
	}
	if len(rq.targets) == 0 {
		name, _ := proxy.ClientFromContext(r.Context())
		errshape.Write(w, errshape.OpenAI, http.StatusForbidden,
			"apijongler: client "+name+" may not use "+strconv.Quote(strings.Join(names, ", ")), 0)
		return nil
	}
	switch _, isRoute := h.routes[rq.model]; {
	case isRoute:
		rq.label = rq.model
	case h.Has(rq.model) && len(names) == 1:
		rq.label = "pinned" // a client's own CONNECTOR/MODEL: the metrics never carry a name no route has
	default:
		rq.label = "models" // a list alone
	}
	return rq
}

// writeModelNotFound answers 404 for a model that names no route and no
// pinned target. The name is the client's own; it is quoted as JSON.
func writeModelNotFound(w http.ResponseWriter, model string, routes []string) {
	if len(model) > 200 {
		model = model[:200] + "…"
	}
	msg := "apijongler: model " + strconv.Quote(model) + " names no route and no CONNECTOR/MODEL served here"
	if len(routes) > 0 {
		msg += "; routes: " + strings.Join(routes, ", ")
	}
	errshape.Write(w, errshape.OpenAI, http.StatusNotFound, msg, 0)
}

// body returns the request body for target t: the client's, "model" set
// to t's.
func (rq *request) body(t Target) []byte {
	m, _ := json.Marshal(t.Model)
	fields := make(map[string]json.RawMessage, len(rq.fields))
	for k, v := range rq.fields {
		fields[k] = v
	}
	fields["model"] = m
	b, _ := json.Marshal(fields)
	return b
}

// outcome is what the handler did with one request, for the access log.
type outcome struct {
	route    string
	served   string
	skipped  []string
	fellBack []string
	waited   time.Duration
	status   int
	note     string
}

// serveRequest serves a chat completion or embeddings request.
func (h *Handler) serveRequest(w http.ResponseWriter, r *http.Request, path string, next http.Handler) {
	start := time.Now()
	rq := h.readRequest(w, r, path, next)
	if rq == nil {
		return
	}
	o := &outcome{route: rq.label}
	defer h.logOutcome(r.Context(), o, start)
	ctx := r.Context()
	deadline := h.cfg.clock.Now().Add(rq.maxWait)
	for {
		served, back := h.try(ctx, w, rq, o)
		if served || ctx.Err() != nil {
			return
		}
		now := h.cfg.clock.Now()
		if back.IsZero() {
			o.status, o.note = http.StatusServiceUnavailable, "no target can serve"
			errshape.Write(w, errshape.OpenAI, http.StatusServiceUnavailable,
				"apijongler: no target of "+strconv.Quote(rq.label)+" can serve the request: their keys are refused (check them, then run cleanup), or the request is over their token quotas", 0)
			return
		}
		wait := max(back.Sub(now), 0)
		if rq.maxWait > 0 && !back.After(deadline) {
			o.waited += wait
			if err := h.cfg.clock.Sleep(ctx, max(wait, time.Millisecond)); err != nil {
				return
			}
			continue
		}
		o.status, o.note = http.StatusTooManyRequests, "every target spent"
		errshape.Write(w, errshape.OpenAI, http.StatusTooManyRequests,
			"apijongler: every target of "+strconv.Quote(rq.label)+" is spent; the first has room again in "+errshape.RetryAfterSeconds(wait)+"s", max(wait, time.Second))
		return
	}
}

// try sends rq to the first of its targets with headroom, falling back on
// a 429, a 5xx or a failure to connect. It reports whether an answer was
// written and, if none was, the earliest time a target has headroom again
// (zero: none ever will).
func (h *Handler) try(ctx context.Context, w http.ResponseWriter, rq *request, o *outcome) (served bool, back time.Time) {
	for _, t := range rq.targets {
		cn := h.conns[t.Connector]
		at, err := cn.t.Headroom(ctx, t.Model)
		now := h.cfg.clock.Now() // after: Headroom's "now" is not later
		if err != nil {
			if ctx.Err() != nil {
				return false, time.Time{}
			}
			h.cfg.log.Warn("route: the key states cannot be read; target skipped", "target", t.String(), "err", err)
			at = now.Add(time.Second)
		}
		if !at.IsZero() && !at.After(now) {
			at = h.tokenWindow(t).headroom(now, rq.est)
		}
		if at.IsZero() || at.After(now) {
			o.skipped = append(o.skipped, t.String())
			h.tel.count(ctx, o.route, h.label(t), "skipped")
			back = earliest(back, at)
			continue
		}
		resp, err := h.send(ctx, cn, t, rq)
		if err != nil {
			if ctx.Err() != nil {
				o.status, o.note = 499, "client gone"
				return true, time.Time{}
			}
			o.fellBack = append(o.fellBack, t.String())
			h.tel.count(ctx, o.route, h.label(t), "fell_back")
			h.cfg.log.Debug("route: target failed; falling back", "target", t.String(), "err", err)
			back = earliest(back, h.cfg.clock.Now())
			continue
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			h.refused(t, resp)
			o.fellBack = append(o.fellBack, t.String())
			h.tel.count(ctx, o.route, h.label(t), "fell_back")
			if again, err := cn.t.Headroom(ctx, t.Model); err == nil {
				if !again.IsZero() && !again.After(h.cfg.clock.Now()) {
					again = h.cfg.clock.Now().Add(time.Second) // a 5xx: soon, not at once
				}
				back = earliest(back, again)
			}
			continue
		}
		o.served, o.status = t.String(), resp.StatusCode
		h.tel.count(ctx, o.route, h.label(t), "served")
		if note := h.pass(w, resp, t, rq); note != "" {
			o.note = note
		}
		return true, time.Time{}
	}
	return false, back
}

// earliest returns the earlier of a and b, a zero one being "never".
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

// send sends rq to target t through its connector's transport, which puts
// a key in the placeholder's place.
func (h *Handler) send(ctx context.Context, cn *conn, t Target, rq *request) (*http.Response, error) {
	info := &reqinfo.Info{}
	info.RedactBodies() // a client of the router must never learn a key
	info.NoWait()       // other targets are waiting: no wait for this one
	body := rq.body(t)
	url := cn.t.BaseURL() + cn.c.OpenAIPath + rq.path
	req, err := http.NewRequestWithContext(reqinfo.NewContext(ctx, info), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+placeholder)
	if rq.accept != "" {
		req.Header.Set("Accept", rq.accept)
	}
	h.tokenWindow(t).reserve(h.cfg.clock.Now(), rq.est)
	resp, err := cn.t.RoundTrip(req)
	if err != nil {
		h.tokenWindow(t).settle(h.cfg.clock.Now(), rq.est, 0)
		return nil, err
	}
	return resp, nil
}

// refused learns what a refusal says of t's token windows, and discards
// it.
func (h *Handler) refused(t Target, resp *http.Response) {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	now := h.cfg.clock.Now()
	tw := h.tokenWindow(t)
	tw.fromHeaders(resp.Header, now)
	if resp.StatusCode == http.StatusTooManyRequests {
		tw.fromGeminiQuota(data, now)
	}
}

// logOutcome writes the access log line of one request.
func (h *Handler) logOutcome(ctx context.Context, o *outcome, start time.Time) {
	if !h.cfg.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.String("route", o.route), slog.Int("status", o.status)}
	if name, ok := proxy.ClientFromContext(ctx); ok {
		attrs = append(attrs, slog.String("client_name", name))
	}
	if o.served != "" {
		attrs = append(attrs, slog.String("target", o.served))
	}
	if len(o.skipped) > 0 {
		attrs = append(attrs, slog.String("skipped", strings.Join(o.skipped, " ")))
	}
	if len(o.fellBack) > 0 {
		attrs = append(attrs, slog.String("fell_back", strings.Join(o.fellBack, " ")))
	}
	if o.waited > 0 {
		attrs = append(attrs, slog.Duration("waited", o.waited))
	}
	if o.note != "" {
		attrs = append(attrs, slog.String("note", o.note))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(start)))
	h.cfg.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "route", attrs...)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
