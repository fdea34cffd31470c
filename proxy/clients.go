package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/errshape"
)

// Client is one client of a [Handler]: its name, the token it proves
// itself with, and what it may do. The name goes into the access log, the
// metrics and [Handler.Clients]; the token never does.
type Client struct {
	// Name names the client in the log, the metrics and the status; give
	// each client a name of its own (clients of one name share their
	// limits' counts).
	Name string
	// Token is the token the client sends where an API key goes, or ""
	// when TokenSHA256 is given instead.
	Token string
	// TokenSHA256 is the SHA-256 of the token, used when Token is "": the
	// configuration need not hold the token itself. Such a token is
	// looked for elsewhere in requests (another header, the path, the
	// access log) once a client has sent it where an API key goes.
	TokenSHA256 [sha256.Size]byte
	// PerMinute and PerDay bound the requests the client may send in a
	// minute and in a day (UTC) of the clock; 0: no bound. One more gets
	// 429 with Retry-After, until the minute or the day ends.
	PerMinute, PerDay int
	// Allow names the connectors (by name or alias) and routes the client
	// may use; empty: every one. Another gets 403.
	Allow []string
}

// UnnamedClient is the name of clients given by [WithTokens], which have
// none of their own.
const UnnamedClient = "token"

// NoClient is the client name of a request that carries no token of a
// client: one refused with 401, or any request to a handler without
// tokens.
const NoClient = "-"

// Allows reports whether c may use what names names (a connector's name
// and its aliases, or a route's name): true when c.Allow is empty or holds
// one of them.
func (c *Client) Allows(names ...string) bool {
	if len(c.Allow) == 0 {
		return true
	}
	return slices.ContainsFunc(names, func(n string) bool { return slices.Contains(c.Allow, n) })
}

// WithClients lets in only requests that carry the token of one of
// clients where they would put an API key (besides those of
// [WithTokens]), each client under its own limits. A client without a
// name is refused by [New], and so is one without a token.
func WithClients(clients ...Client) Option {
	return func(c *config) { c.clients = append(c.clients, clients...) }
}

// WithClientUsage counts each client's requests in u, so that their
// limits hold across handlers sharing it: a program that replaces its
// Handler (serve on SIGHUP) keeps one ClientUsage. Without it, the
// handler counts on its own, with the real clock.
func WithClientUsage(u *ClientUsage) Option { return func(c *config) { c.usage = u } }

// clientEntry is a client as the handler keeps it.
type clientEntry struct {
	Client
	digest [sha256.Size]byte
	learn  sync.Once // for a hashed token: learn it when first sent
}

// newClients checks clients and tokens and returns the handler's entries,
// unnamed tokens first.
func newClients(tokens []string, clients []Client) ([]*clientEntry, error) {
	var out []*clientEntry
	for _, t := range tokens {
		out = append(out, &clientEntry{Client: Client{Name: UnnamedClient, Token: t}, digest: sha256.Sum256([]byte(t))})
	}
	var zero [sha256.Size]byte
	for i, c := range clients {
		switch {
		case strings.TrimSpace(c.Name) == "" || c.Name == NoClient:
			return nil, fmt.Errorf("proxy: client %d has no name", i+1)
		case c.Token == "" && c.TokenSHA256 == zero:
			return nil, fmt.Errorf("proxy: client %s has no token", c.Name)
		case c.PerMinute < 0 || c.PerDay < 0:
			return nil, fmt.Errorf("proxy: client %s: a limit below 0", c.Name)
		}
		e := &clientEntry{Client: c, digest: c.TokenSHA256}
		e.Allow = slices.Clone(c.Allow)
		if c.Token != "" {
			e.digest = sha256.Sum256([]byte(c.Token))
		}
		if slices.ContainsFunc(out, func(o *clientEntry) bool { return o.digest == e.digest }) {
			return nil, fmt.Errorf("proxy: client %s: its token is another client's too", c.Name)
		}
		out = append(out, e)
	}
	return out, nil
}

// knownTokens returns the tokens of clients given in clear.
func knownTokens(clients []*clientEntry) []string {
	var out []string
	for _, c := range clients {
		if c.Token != "" {
			out = append(out, c.Token)
		}
	}
	return out
}

// tokens returns the tokens the handler looks for in requests: those given
// in clear and those of hashed clients that have sent theirs.
func (h *Handler) tokens() tokenSet { return *h.found.Load() }

// learnToken adds a hashed client's token, just sent where an API key
// goes, to the tokens looked for: from now on it is kept from the upstream
// and the log wherever a request holds it.
func (h *Handler) learnToken(c *clientEntry, tok string) {
	if c.Token != "" {
		return
	}
	c.learn.Do(func() {
		h.learnMu.Lock()
		defer h.learnMu.Unlock()
		next := slices.Concat(*h.found.Load(), newTokenSet([]string{tok}))
		h.found.Store(&next)
	})
}

// authenticate returns the client whose token r carries in one of the
// places an API key goes, and that token; nil if none. Every candidate is
// compared with every client's token by their SHA-256 digests, in
// constant time.
func (h *Handler) authenticate(r *http.Request, m *mount) (*clientEntry, string) {
	found, tok := -1, ""
	try := func(v string) {
		if v == "" {
			return
		}
		d := sha256.Sum256([]byte(v))
		for i, c := range h.clients {
			if subtle.ConstantTimeCompare(d[:], c.digest[:]) == 1 {
				found, tok = i, v
			}
		}
	}
	// Canonical header names: looking them up allocates nothing.
	try(r.Header.Get("X-Goog-Api-Key"))
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		try(strings.TrimSpace(t))
	}
	q := r.URL.RawQuery
	key, _ := queryValue(q, "key")
	try(key)
	if m != nil {
		if m.header != "" && !strings.EqualFold(m.header, "Authorization") {
			try(strings.TrimPrefix(r.Header.Get(m.header), m.prefix))
		}
		if m.query != "" && m.query != "key" {
			v, _ := queryValue(q, m.query)
			try(v)
		}
	}
	if found < 0 {
		return nil, ""
	}
	return h.clients[found], tok
}

// ClientName returns the name of the client whose token r carries where
// an API key goes (as a Bearer token, in x-goog-api-key or the key query
// parameter, or where one of the handler's connectors takes its key), and
// whether r carries one. A handler without tokens lets every request in:
// it returns [NoClient] and true.
func (h *Handler) ClientName(r *http.Request) (string, bool) {
	if len(h.clients) == 0 {
		return NoClient, true
	}
	m, _, _ := h.route(r.URL.EscapedPath())
	c, tok := h.authenticate(r, m)
	if c == nil {
		return NoClient, false
	}
	h.learnToken(c, tok)
	return c.Name, true
}

// Admit returns a handler that serves next the requests of h's clients
// that their limits let in now, as h lets in its own: it answers the others
// itself, in OpenAI's error shape (401 without a client's token, 429 for a
// client over its limits), and gives next each request with its client in
// the context ([ClientFromContext], [AllowedFromContext]). A request next
// hands on to h is not counted twice. A handler without tokens lets every
// request in. Admit is for endpoints served beside h, such as routes.
func (h *Handler) Admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(h.clients) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		c, tok := h.authenticate(r, nil)
		if c == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apijongler"`)
			errshape.Write(w, errshape.OpenAI, http.StatusUnauthorized, "apijongler: missing or wrong proxy token: put the token where the API key goes", 0)
			return
		}
		h.learnToken(c, tok)
		if wait, what := h.usage.admit(&c.Client); what != "" {
			errshape.Write(w, errshape.OpenAI, http.StatusTooManyRequests, overLimit(c.Name, what, wait), wait)
			return
		}
		ctx := context.WithValue(r.Context(), clientKey{}, &c.Client)
		ctx = context.WithValue(ctx, admittedKey{}, c)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// admittedKey is the context key of the client entry [Handler.Admit] let
// in and counted.
type admittedKey struct{}

// admitted returns the entry of r's client if h's Admit has let r in.
func (h *Handler) admitted(r *http.Request) *clientEntry {
	c, ok := r.Context().Value(admittedKey{}).(*clientEntry)
	if !ok || !slices.Contains(h.clients, c) {
		return nil
	}
	return c
}

// overLimit is the message of a 429 for a client over its own limit.
func overLimit(name, what string, wait time.Duration) string {
	return fmt.Sprintf("apijongler: client %s is over its own limit of %s; the keys are not exhausted, try again in %ds", name, what, int((wait+time.Second-1)/time.Second))
}

// HasClients reports whether the handler lets in only requests with a
// client's token.
func (h *Handler) HasClients() bool { return len(h.clients) > 0 }

type clientKey struct{}

// ClientFromContext returns the name of the client a request the handler
// serves comes from, from the request's context (as the handler's
// transports and whatever they call see it), and whether it has one.
func ClientFromContext(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(clientKey{}).(*Client)
	if !ok {
		return "", false
	}
	return c.Name, true
}

// AllowedFromContext reports whether the client of a request the handler
// serves may use what names names (a route's name, say), as
// [Client.Allows] does; true for a request without a client (a handler
// without tokens).
func AllowedFromContext(ctx context.Context, names ...string) bool {
	c, ok := ctx.Value(clientKey{}).(*Client)
	return !ok || c.Allows(names...)
}

// admit checks that c may use m now, and counts the request; otherwise it
// answers the client itself (403 or 429) and returns false.
func (h *Handler) admit(w *logWriter, c *clientEntry, m *mount, path string, counted bool) bool {
	if !c.Allows(m.names...) {
		w.note = "client not allowed"
		errshape.Write(w, shapeOf(m, path), http.StatusForbidden,
			fmt.Sprintf("apijongler: client %s may not use connector %s", c.Name, m.name), 0)
		return false
	}
	if counted {
		return true
	}
	wait, what := h.usage.admit(&c.Client)
	if what == "" {
		return true
	}
	w.note = "client over its limit"
	errshape.Write(w, shapeOf(m, path), http.StatusTooManyRequests, overLimit(c.Name, what, wait), wait)
	return false
}

// ClientUsage counts the requests of each client, by name, for their
// limits ([Client.PerMinute], [Client.PerDay]) and for
// [Handler.Clients]. It is safe for concurrent use.
type ClientUsage struct {
	clock jongler.Clock
	mu    sync.Mutex
	by    map[string]*clientCount
}

// clientCount is what ClientUsage knows of one client.
type clientCount struct {
	minute, day     time.Time // the windows counted in
	inMinute, inDay int
	requests        int64 // let in, since the start
	limited         int64 // refused for its limits
	last            time.Time
}

// NewClientUsage returns an empty ClientUsage telling time with clock
// (nil: the real one).
func NewClientUsage(clock jongler.Clock) *ClientUsage {
	return &ClientUsage{clock: clock, by: map[string]*clientCount{}}
}

func (u *ClientUsage) now() time.Time {
	if u.clock == nil {
		return time.Now()
	}
	return u.clock.Now()
}

// count returns the count of the client called name, its windows moved to
// now; u.mu is held.
func (u *ClientUsage) count(name string, now time.Time) *clientCount {
	n := u.by[name]
	if n == nil {
		n = &clientCount{}
		u.by[name] = n
	}
	if m := now.Truncate(time.Minute); !m.Equal(n.minute) {
		n.minute, n.inMinute = m, 0
	}
	if d := now.UTC().Truncate(24 * time.Hour); !d.Equal(n.day) {
		n.day, n.inDay = d, 0
	}
	return n
}

// admit counts one request of c, unless c is over one of its limits: then
// it returns how long until the limit lets one in, and which limit it is
// ("60 requests a minute").
func (u *ClientUsage) admit(c *Client) (time.Duration, string) {
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.count(c.Name, now)
	switch {
	case c.PerDay > 0 && n.inDay >= c.PerDay:
		n.limited++
		return n.day.Add(24 * time.Hour).Sub(now), fmt.Sprintf("%d requests a day", c.PerDay)
	case c.PerMinute > 0 && n.inMinute >= c.PerMinute:
		n.limited++
		return n.minute.Add(time.Minute).Sub(now), fmt.Sprintf("%d requests a minute", c.PerMinute)
	}
	n.inMinute++
	n.inDay++
	n.requests++
	n.last = now
	return 0, ""
}

// ClientStatus is what [Handler.Clients] tells of one client: never its
// token.
type ClientStatus struct {
	Name      string   `json:"name"`
	PerMinute int      `json:"per_minute,omitempty"`
	PerDay    int      `json:"per_day,omitempty"`
	Allow     []string `json:"allow,omitempty"`
	// ThisMinute and Today are the requests let in in the current minute
	// and day (UTC) of the clock.
	ThisMinute int `json:"this_minute"`
	Today      int `json:"today"`
	// Requests and Limited count, since the ClientUsage was made, the
	// requests let in and those refused for the client's limits.
	Requests int64     `json:"requests"`
	Limited  int64     `json:"limited"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Clients returns each client of the handler and its counts, by name, in
// the order they were given; clients of [WithTokens] are one, called
// [UnnamedClient].
func (h *Handler) Clients() []ClientStatus {
	now := h.usage.now()
	h.usage.mu.Lock()
	defer h.usage.mu.Unlock()
	var out []ClientStatus
	for _, c := range h.clients {
		if slices.ContainsFunc(out, func(s ClientStatus) bool { return s.Name == c.Name }) {
			continue
		}
		n := h.usage.count(c.Name, now)
		out = append(out, ClientStatus{Name: c.Name, PerMinute: c.PerMinute, PerDay: c.PerDay, Allow: slices.Clone(c.Allow),
			ThisMinute: n.inMinute, Today: n.inDay, Requests: n.requests, Limited: n.limited, LastSeen: n.last})
	}
	return out
}

// clientsState is what the Handler holds for its clients.
type clientsState struct {
	clients []*clientEntry
	usage   *ClientUsage
	found   atomic.Pointer[tokenSet] // the tokens looked for in requests
	learnMu sync.Mutex
}
