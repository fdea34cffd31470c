package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/errshape"
	"github.com/api-jongler/jongler/internal/redact"
	"github.com/api-jongler/jongler/internal/reqinfo"
)

// Handler is the proxy: an [http.Handler] serving each of its transports'
// connectors. It is safe for concurrent use; its configuration does not
// change once made (to change keys, make a new Handler over new transports
// and switch to it: requests in flight finish on the old one).
//
// ServeHTTP changes nothing of the request it is given; it reads the body
// (through an [http.MaxBytesReader]) and, as [httputil.ReverseProxy], leaves
// closing it to the server. The upstream's answer body is always closed.
type Handler struct {
	mounts       map[string]*mount // by prefix name
	root         *mount
	prefixes     []string // "/NAME/", sorted
	clientsState          // clients.go: who may send, and their tokens kept from the upstream
	maxBody      int64
	// bodyIdle bounds the wait for each read of a request body, so that
	// a client trickling its body cannot hold a connection for ever.
	bodyIdle time.Duration
	limits   limits
	buffered byteBudget // request bodies held (bodylimits.go)
	log      *slog.Logger
	buffers  bufferPool
	metrics  metrics
	trusted  trustedProxies // forwarded.go
}

// mount is one connector served by the handler.
type mount struct {
	name   string   // the connector's canonical name
	names  []string // its name and aliases
	policy string
	// header and prefix: the connector's own key header (canonical, so
	// that looking it up allocates nothing), besides the usual ones.
	header string
	prefix string
	query  string
	keyed  bool // the connector needs a key
	rp     *httputil.ReverseProxy
}

// New returns a Handler serving each transport's connector under
// /NAME/ and its aliases. Two transports for one connector are an error.
// Requests go through the transports as they are configured; give them
// [jongler.WithNoKeyAnswer] (the handler answers the same when they do not).
func New(transports []*jongler.Transport, opts ...Option) (*Handler, error) {
	cfg := config{maxBody: DefaultMaxBodyBytes, limits: defaultLimits()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBody <= 0 {
		cfg.maxBody = DefaultMaxBodyBytes
	}
	if len(transports) == 0 {
		return nil, errors.New("proxy: no transport to serve")
	}
	h := &Handler{mounts: map[string]*mount{}, maxBody: cfg.maxBody, log: cfg.log, bodyIdle: bodyIdleTimeout, limits: cfg.limits}
	h.buffered.max = cfg.limits.maxBuffered
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	errorLog := cfg.errorLog
	if errorLog == nil {
		errorLog = slog.New(slog.DiscardHandler)
	}
	clients, err := newClients(cfg.tokens, cfg.clients)
	if err != nil {
		return nil, err
	}
	h.clients, h.usage, h.trusted = clients, cfg.usage, cfg.trusted
	if h.usage == nil {
		h.usage = NewClientUsage(nil)
	}
	found := newTokenSet(knownTokens(clients))
	h.found.Store(&found)
	if h.metrics, err = newMetrics(cfg.meters); err != nil {
		return nil, err
	}
	for _, t := range transports {
		c := t.Connector()
		target, err := url.Parse(t.BaseURL())
		if err != nil {
			return nil, fmt.Errorf("proxy: connector %s: base URL: %w", c.Name, err)
		}
		m := &mount{
			name:   c.Name,
			names:  append([]string{c.Name}, c.Aliases...),
			policy: c.Policy,
			header: canonicalHeader(c.APIKeyHeader),
			prefix: c.APIKeyPrefix,
			query:  c.APIKeyQuery,
			keyed:  len(t.KeyNames()) > 0,
		}
		m.rp = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				m.rewrite(pr, target)
				h.tokens().drop(pr.Out)
			},
			Transport:      watched{t, &h.limits},
			ModifyResponse: checkUpgrade,
			ErrorHandler:   m.errorHandler,
			ErrorLog:       slog.NewLogLogger(errorLog.Handler(), slog.LevelDebug),
			BufferPool:     &h.buffers,
		}
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if _, dup := h.mounts[n]; dup {
				return nil, fmt.Errorf("proxy: connector %s is served twice", n)
			}
			h.mounts[n] = m
			h.prefixes = append(h.prefixes, "/"+n+"/")
		}
	}
	slices.Sort(h.prefixes)
	switch {
	case cfg.root != "":
		m, ok := h.mounts[cfg.root]
		if !ok {
			return nil, fmt.Errorf("proxy: root connector %q is not served; served: %s", cfg.root, strings.Join(h.prefixes, ", "))
		}
		h.root = m
	case len(transports) == 1:
		h.root = h.mounts[transports[0].Connector().Name]
	}
	return h, nil
}

// Prefixes returns the paths connectors are served under, "/NAME/",
// sorted; "/" comes first when a connector is served there too.
func (h *Handler) Prefixes() []string {
	if h.root != nil {
		return append([]string{"/"}, h.prefixes...)
	}
	return slices.Clone(h.prefixes)
}

// Root returns the name of the connector served at /, or "".
func (h *Handler) Root() string {
	if h.root == nil {
		return ""
	}
	return h.root.name
}

// route returns the mount serving escaped, a request's path as the client
// sent it (URL.EscapedPath), and, when its first segment names the mount,
// the rest, which goes upstream in its place, or else served at /. The
// name is matched on the path as sent: "/gemini%2F..." and "/%67emini/"
// name no connector, and the rest goes upstream byte for byte.
func (h *Handler) route(escaped string) (m *mount, rest string, byName bool) {
	if p, ok := strings.CutPrefix(escaped, "/"); ok {
		name, after, _ := strings.Cut(p, "/")
		if m, ok := h.mounts[name]; ok {
			return m, "/" + after, true
		}
	}
	return h.root, "", false
}

// exchange is what the handler keeps of one request, in one allocation.
type exchange struct {
	start time.Time
	m     *mount // nil: no connector is served at the path
	info  reqinfo.Info
	lw    logWriter
	url   url.URL // the outbound URL, before the rewrite
	// client is the name of the client, "" until its token is found.
	client string
}

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{start: time.Now()}
	x.info.RedactBodies() // the client must never learn a key, even one the upstream echoes
	x.lw.ResponseWriter = w
	lw := &x.lw
	lw.rc = *http.NewResponseController(w)
	lw.writeTimeout, lw.bodyAnnounced = h.limits.write, r.ContentLength != 0
	lw.extendWrite() // a deadline left from the connection's last request ends here
	defer h.logRequest(r, x)

	m, rest, byName := h.route(r.URL.EscapedPath())
	x.m = m
	u := &x.url
	*u = *r.URL
	if byName {
		// The rest as sent: RawPath keeps its escapes (EscapedPath, which
		// ReverseProxy sends, prefers it to Path when it spells Path).
		p, err := url.PathUnescape(rest)
		if err != nil {
			p = rest // cannot be: EscapedPath is escaped
		}
		u.Path, u.RawPath = p, rest
	}
	client := h.admitted(r) // let in and counted by Admit
	counted := client != nil
	if counted {
		x.client = client.Name
	} else if len(h.clients) > 0 {
		var tok string
		if client, tok = h.authenticate(r, m); client == nil {
			lw.note = "unauthorized"
			errshape.Write(lw, shapeOf(m, u.Path), http.StatusUnauthorized, "apijongler: missing or wrong proxy token: put the token where the API key goes", 0)
			return
		}
		h.learnToken(client, tok)
		x.client = client.Name
	}
	if m == nil {
		h.notFound(lw, r)
		return
	}
	found := h.tokens()
	if found.inPath(r.URL) {
		// Never sent upstream, nor kept as a model's name in the key
		// states: the path is not a place for a credential.
		lw.note = "token in path"
		errshape.Write(lw, shapeOf(m, u.Path), http.StatusBadRequest, "apijongler: the proxy token must not be in the URL path; put it where the API key goes", 0)
		return
	}
	if found.inMethod(r.Method) {
		lw.note = "token in method"
		errshape.Write(lw, shapeOf(m, u.Path), http.StatusBadRequest, "apijongler: the proxy token must not be in the HTTP method; put it where the API key goes", 0)
		return
	}
	if client != nil && !h.admit(lw, client, m, u.Path, counted) {
		return
	}
	ctx := reqinfo.NewContext(r.Context(), &x.info)
	if client != nil {
		ctx = context.WithValue(ctx, clientKey{}, &client.Client)
	}
	if h.limits.upstreamHeader > 0 || h.limits.streamIdle > 0 {
		ctx = context.WithValue(ctx, exchangeKey{}, x) // for the upstream's bounds (limits.go)
	}
	r2 := r.WithContext(ctx)
	r2.URL = u
	if r.Body != nil && r.Body != http.NoBody {
		// The server's own writer, so that it closes the connection after a
		// body over the bound.
		r2.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		cb, ok := newCountedBody(r2.Body, &h.buffered, r.ContentLength, h.maxBody+1)
		if !ok {
			lw.note = "buffers full"
			errshape.Write(lw, shapeOf(m, u.Path), http.StatusServiceUnavailable, "apijongler: too many request bodies are held in memory; try again", time.Second)
			return
		}
		defer cb.release()
		lw.body = &idleBody{ReadCloser: cb, rc: http.NewResponseController(w), idle: h.bodyIdle}
		if h.limits.body > 0 {
			lw.body.deadline = x.start.Add(h.limits.body)
		}
		r2.Body = lw.body
	}
	m.rp.ServeHTTP(lw, r2)
}

// shapeOf is the shape of the errors the handler answers for m (nil: no
// connector) at path.
func shapeOf(m *mount, path string) errshape.Shape {
	if m == nil {
		return errshape.OpenAI
	}
	return errshape.For(m.policy, path)
}

// canonicalHeader returns name in canonical form, "" for "".
func canonicalHeader(name string) string {
	if name == "" {
		return ""
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// maxScannedParams bounds the parameters queryValue reads itself; a longer
// query is left to url.ParseQuery, whose own bound (GODEBUG
// urlmaxqueryparams) then applies as it does to [url.URL.Query].
const maxScannedParams = 1000

// queryValue returns the first value of the parameter name in the raw
// query and whether there is one, as [url.ParseQuery]'s Get and Has would,
// without building the map.
func queryValue(raw, name string) (string, bool) {
	if raw == "" {
		return "", false
	}
	if strings.Count(raw, "&") >= maxScannedParams {
		q, _ := url.ParseQuery(raw)
		return q.Get(name), q.Has(name)
	}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" || strings.Contains(part, ";") {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || k != name {
			continue
		}
		if v, err = url.QueryUnescape(v); err == nil {
			return v, true
		}
	}
	return "", false
}

// credentialHeaders are where clients put an API key, besides the
// connector's own header and query parameter.
var credentialHeaders = [...]string{"X-Goog-Api-Key", "Authorization"}

// rewrite aims the outbound request at the connector and takes every
// credential the client sent out of it. The slot the client used keeps a
// placeholder when it is one the connector takes a key in, so that the
// transport puts its key there, as the client meant.
func (m *mount) rewrite(pr *httputil.ProxyRequest, target *url.URL) {
	pr.SetURL(target)
	out := pr.Out
	h := out.Header
	// The client's address and whatever a proxy before us said of it stay
	// here (X-Forwarded-* are dropped by ReverseProxy).
	h.Del("Forwarded")
	h.Del("X-Real-Ip")
	// The answer must come in clear for the key to be found in it: net/http
	// asks for gzip itself when the request does not, and decompresses.
	h.Del("Accept-Encoding")

	const placeholder = "apijongler"
	// The slot that keeps a placeholder: a header (and its value) or a
	// query parameter; the first one found, if any.
	var keepHeader, keepValue, keepParam string
	kept := func() bool { return keepHeader != "" || keepParam != "" }
	for _, name := range credentialHeaders {
		if h.Get(name) != "" && !kept() && m.keyed {
			switch {
			case name == "Authorization":
				keepHeader, keepValue = "Authorization", "Bearer "+placeholder
			case strings.EqualFold(name, m.header):
				keepHeader, keepValue = name, placeholder
			}
		}
		h.Del(name)
	}
	if m.header != "" {
		if h.Get(m.header) != "" && !kept() && m.keyed {
			keepHeader, keepValue = m.header, m.prefix+placeholder
		}
		h.Del(m.header)
	}
	// The query is parsed and encoded again only when it holds a
	// credential (most requests have none, or no query at all).
	_, has := queryValue(out.URL.RawQuery, "key")
	if !has && m.query != "" {
		_, has = queryValue(out.URL.RawQuery, m.query)
	}
	if has {
		q := out.URL.Query()
		for _, name := range [...]string{"key", m.query} {
			if name == "" || !q.Has(name) {
				continue
			}
			if !kept() && m.keyed && name == m.query {
				keepParam = name
			}
			q.Del(name)
		}
		out.URL.RawQuery = q.Encode()
	}
	switch {
	case keepHeader != "":
		h.Set(keepHeader, keepValue)
	case keepParam != "":
		q := out.URL.Query()
		q.Set(keepParam, placeholder)
		out.URL.RawQuery = q.Encode()
	}
}

// copyBufferSize is the size of the buffers the reverse proxy copies
// answers with, as its own default.
const copyBufferSize = 32 << 10

// bufferPool lends the reverse proxy its copy buffers, which it would
// otherwise allocate (and the garbage collector sweep) for every answer.
// A buffer is held for as long as its answer is copied: a stream holds
// one until it ends.
type bufferPool struct{ p sync.Pool }

// Get returns a buffer of copyBufferSize bytes.
func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return buf[:]
	}
	return new([copyBufferSize]byte)[:]
}

// Put takes back a buffer Get returned.
func (b *bufferPool) Put(buf []byte) {
	if len(buf) == copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf))
	}
}

// bodyIdleTimeout is how long a request body's read may wait for bytes,
// as nginx's client_body_timeout.
const bodyIdleTimeout = 60 * time.Second

// errBodyIdle says a client sent no byte of its body for too long.
var errBodyIdle = errors.New("proxy: the request body stalled")

// idleBody is a request body each read of which must get bytes within
// idle (the connection's read deadline, cleared after each read so that
// the server's watch for a client going away is not cut short).
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	eof  atomic.Bool // read to its end
	sent *stallBody  // the upstream's bounds, told when the body is read
	// deadline is when the whole body must be in (bodylimits.go); zero:
	// no bound but each read's.
	deadline time.Time
}

func (b *idleBody) Read(p []byte) (int, error) {
	d := time.Now().Add(b.idle)
	if !b.deadline.IsZero() && b.deadline.Before(d) {
		d = b.deadline
	}
	b.rc.SetReadDeadline(d) // fails only where it cannot be
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline stays past: the server's own read of the rest of
		// the body, before it answers, fails at once too, and it closes
		// the connection after the answer.
		if !b.deadline.IsZero() && !time.Now().Before(b.deadline) {
			return n, fmt.Errorf("%w: not whole in time", errBodyIdle)
		}
		return n, fmt.Errorf("%w: no byte for %v", errBodyIdle, b.idle)
	}
	b.rc.SetReadDeadline(time.Time{})
	if err == io.EOF && !b.eof.Swap(true) && b.sent != nil {
		b.sent.armHeader()
	}
	return n, err
}

// errorHandler answers a request that got no answer from the transport,
// never with the error's text, which could name an address.
func (m *mount) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	shape := errshape.For(m.policy, r.URL.Path)
	lw, _ := w.(*logWriter)
	note := func(s string) {
		if lw != nil {
			lw.note = s
		}
	}
	// The access log (the operator's) gets the error's text; the client
	// never does.
	logErr := func() {
		if lw != nil {
			lw.err = err.Error()
		}
	}
	var (
		nk  *jongler.NoKeyError
		mbe *http.MaxBytesError
		ne  net.Error
		ee  *redact.EncodingError
	)
	switch {
	case errors.Is(err, errHeaderTimeout):
		note("upstream header timeout")
		errshape.Write(w, shape, http.StatusGatewayTimeout, "apijongler: the upstream did not answer in time", 0)
	case errors.As(err, &nk):
		note("no key")
		if nk.RetryAfter <= 0 {
			errshape.Write(w, shape, http.StatusServiceUnavailable, "apijongler: "+strings.TrimPrefix(nk.Error(), "jongler: "), 0)
			return
		}
		errshape.Write(w, shape, http.StatusTooManyRequests, "apijongler: "+strings.TrimPrefix(nk.Error(), "jongler: "), nk.RetryAfter)
	case errors.Is(err, errUpgradeRefused):
		note("upstream upgrade")
		logErr()
		errshape.Write(w, shape, http.StatusBadGateway, "apijongler: the upstream switched protocols unasked", 0)
	case errors.Is(err, errBuffersFull):
		note("buffers full")
		errshape.Write(w, shape, http.StatusServiceUnavailable, "apijongler: too many request bodies are held in memory; try again", time.Second)
	case errors.Is(err, errBodyIdle):
		note("body stalled")
		errshape.Write(w, shape, http.StatusRequestTimeout, "apijongler: the request body stalled", 0)
	case errors.As(err, &mbe):
		note("body too large")
		errshape.Write(w, shape, http.StatusRequestEntityTooLarge, fmt.Sprintf("apijongler: request body over %d bytes", mbe.Limit), 0)
	case r.Context().Err() != nil && errors.Is(err, context.Canceled), errors.Is(r.Context().Err(), context.Canceled):
		note(goneNote(r.Context()))
		w.WriteHeader(499) // nobody reads it; the access log does
	case reqinfo.FromContext(r.Context()).Snapshot().StoreFailed:
		note("store unavailable")
		logErr()
		errshape.Write(w, shape, http.StatusServiceUnavailable, "apijongler: the key store is unavailable; no key could be leased", 0)
	case errors.As(err, &ee):
		// Its body could not be searched for the key: never handed on.
		note("upstream encoding")
		logErr()
		errshape.Write(w, shape, http.StatusBadGateway, "apijongler: the upstream's answer was refused: "+ee.Error(), 0)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		note("upstream timeout")
		logErr()
		errshape.Write(w, shape, http.StatusGatewayTimeout, "apijongler: the upstream did not answer in time", 0)
	default:
		note("upstream unreachable")
		logErr()
		errshape.Write(w, shape, http.StatusBadGateway, "apijongler: the upstream could not be reached", 0)
	}
}

// notFound answers a path that names no connector, with the prefixes
// served.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	body, _ := json.Marshal(map[string]any{
		"error": map[string]any{
			"code":    http.StatusNotFound,
			"status":  "NOT_FOUND",
			"message": "apijongler: no connector is served at this path; use one of the prefixes",
		},
		"prefixes": h.Prefixes(),
	})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	w.Write(append(body, '\n'))
}
