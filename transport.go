package jongler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/api-jongler/jongler/internal/redact"
	"github.com/api-jongler/jongler/internal/reqinfo"
)

// defaultMaxBodyBuffer bounds the request bodies without GetBody that a
// Transport buffers to send again with another key.
const defaultMaxBodyBuffer = 32 << 20

// errorBodyLimit bounds how much of an error answer is read to classify it
// and replace the key in it; of a longer one the caller gets that much,
// then an error saying it was cut.
const errorBodyLimit = redact.MaxBody

// Transport is an [http.RoundTripper] that sends each request with a key
// leased from the connector's keys, reads the answer with its [Policy], and
// on a rate-limit answer cools the key down and sends the request again
// with the next vacant key. A key that refused a request is not tried
// again for it until its cooldown ends; when no key is left, and none comes
// back within the wait allowed ([WithMaxWait], the request's deadline), the
// last answer is returned unchanged.
//
// Keys go only to the connector's scheme, host and port: a request for any
// other address is sent with no credential at all, with a warning once per
// origin naming it and [Transport.BaseURL]. The credential the
// client sent (a placeholder in the connector's header, in
// "Authorization: Bearer", or in the connector's query parameter) is
// replaced in the same place. The key never comes back: wherever the
// upstream or the base transport wrote it (headers, trailers, a redirect's
// or an error's body, errors), the answer and the error carry that
// placeholder instead, raw or percent-encoded as the key was (see the
// security page of the manual, docs/security.md).
//
// A successful answer's body is passed through as it streams; the key's
// lease ends when that body is read to its end, or 100 ms after it is
// closed before its end (the upstream may still be serving it), or at once
// for an answer with nothing to stream; a body never closed ends it when
// it becomes unreachable, with a warning. Callers must close it all the
// same, as always with [http.Client]. A 101 Switching Protocols answer's
// upgraded connection holds the lease until closed. A Transport is safe
// for concurrent use.
type Transport struct {
	connector  Connector
	target     *url.URL
	base       http.RoundTripper
	egress     *egressRoutes // the keys' ways out; nil: every key through base
	ring       *keyring      // nil when the connector needs no key
	policy     Policy
	backoff    Backoff
	clock      Clock
	logger     *slog.Logger
	slots      []credential
	maxBody    int64
	maxRetries int
	ownStore   *FileStore     // the store the transport opened, closed by Close
	foreign    originWarnings // warnForeignOrigin's
	tel        *telemetry     // nil: no metrics, no spans
	// abandonRest is how long a key stays leased after its answer was
	// closed before its end (see handOff).
	abandonRest time.Duration
	// noKeyAnswer: answer 429 rather than fail when no key can serve.
	noKeyAnswer bool
	redact      *redactSet // the values taken out of answers (redaction.go)
}

// NewTransport returns a Transport for the named connector (a bundled one
// such as [ConnectorGemini], by name or alias, or one from the connectors
// directory). Keys come from [WithKeys] or the INI file named by
// [WithConfigFile] or $APIJONGLER_CONFIG; state is kept in a [FileStore]
// unless [WithStore] says otherwise.
func NewTransport(connector string, opts ...Option) (*Transport, error) {
	o := newOptions(opts)
	if o.err != nil {
		return nil, o.err
	}
	return newTransport(connector, o)
}

func newTransport(name string, o *options) (*Transport, error) {
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := o.connectorsDir
	if dir == "" {
		dir = os.Getenv(ConnectorsDirEnv)
	}
	c, err := LookupConnector(name, dir)
	if err != nil {
		return nil, err
	}
	t := &Transport{
		connector:  c,
		policy:     o.policy,
		backoff:    o.backoff,
		clock:      o.clock,
		logger:     logger,
		maxBody:    o.maxBody,
		maxRetries: o.maxRetries,

		abandonRest: deadHolderRest,
		noKeyAnswer: o.noKeyAnswer,
	}
	if t.policy == nil {
		t.policy = PolicyFor(c)
	}
	if t.backoff == nil {
		t.backoff = defaultBackoff
	}
	if t.clock == nil {
		t.clock = realClock{}
	}
	if t.maxBody <= 0 {
		t.maxBody = defaultMaxBodyBuffer
	}
	if t.maxRetries == 0 {
		t.maxRetries = 3
	}
	base := c.BaseURL()
	if o.baseURL != "" {
		base = o.baseURL
	}
	if t.target, err = parseTarget(base); err != nil {
		return nil, err
	}
	if t.base, err = buildBase(o); err != nil {
		return nil, err
	}
	t.slots = t.credentialSlots()
	if t.tel, err = newTelemetry(c.Name, o.tel, t.clock); err != nil {
		return nil, err
	}

	cfg, table, err := resolveConfig(c, o)
	if err != nil {
		return nil, err
	}
	if cfg.BaseURL != "" && o.baseURL == "" { // the INI file's base_url
		if t.target, err = parseTarget(cfg.BaseURL); err != nil {
			return nil, err
		}
	}
	keys := cfg.Keys
	if len(keys) == 0 {
		return t, nil
	}
	if t.egress, err = newEgress(o, table, keys); err != nil {
		return nil, err
	}
	store := o.store
	if store == nil {
		fs, err := openFileStore(o.stateDir, logger)
		if err != nil {
			return nil, err
		}
		store, t.ownStore = fs, fs
	}
	maxWait := o.maxWait
	if maxWait == 0 {
		maxWait = defaultMaxWait
	}
	t.ring = newKeyring(c.Name, keys, cfg.Budgets, store, o.maxInFlight, t.clock, logger, maxWait)
	t.redact = &redactSet{}
	if o.group != nil {
		t.ring.group = o.group.view(c.Name, keys)
		t.redact = &o.group.redact
	}
	t.redact.add(keys)
	t.ring.tel = t.tel
	if err := t.tel.watch(t.ring); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// defaultMaxWait is how long a request waits, at most, for a cooling key
// to come back when no deadline of its own allows longer.
const defaultMaxWait = 5 * time.Second

// maxRetryWait bounds the wait before resending after an upstream failure
// (a model loading, a Retry-After) when the request has no deadline.
const maxRetryWait = time.Minute

// Backoff bounds: the transport calls its Backoff with these.
const (
	backoffMin = 200 * time.Millisecond
	backoffMax = 5 * time.Second
)

// defaultBackoff is the wait between resends that a verdict or a
// Retry-After does not fix: go-retryablehttp's exponential backoff from
// min to max, with jitter (a random half of it taken off) so that many
// clients do not come back at once. A Retry-After is kept as given.
func defaultBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header); ok {
			return d
		}
	}
	d := retryablehttp.DefaultBackoff(min, max, attempt, nil)
	return d - rand.N(d/2+1)
}

// Connector returns the connector the transport sends to.
func (t *Transport) Connector() Connector { return t.connector }

// BaseURL returns the address keys are sent to.
func (t *Transport) BaseURL() string { return t.target.String() }

// KeyNames returns the names of the configured keys, sorted.
func (t *Transport) KeyNames() []string {
	if t.ring == nil {
		return nil
	}
	names := make([]string, len(t.ring.keys))
	for i, k := range t.ring.keys {
		names[i] = k.Name
	}
	return names
}

// KeyStates returns a snapshot of the keys' states, shared by every process
// using the same store.
func (t *Transport) KeyStates(ctx context.Context) (KeyStates, error) {
	if t.ring == nil {
		return KeyStates{Keys: map[string]KeyDetail{}}, nil
	}
	ks, err := t.ring.states(ctx)
	if err == nil {
		t.egress.showEgress(&ks, t.ring.now())
	}
	return ks, err
}

// Cleanup clears the lockdown and error records of the transport's
// connector, in every process sharing its store.
func (t *Transport) Cleanup(ctx context.Context) error {
	if t.ring == nil {
		return nil
	}
	return Cleanup(ctx, t.ring.store, t.connector.Name)
}

// Close closes the base transport's idle connections and, when the
// transport opened its own file store (no [WithStore]), frees that store's
// mappings and files. Requests in flight finish; the transport must not be
// used after Close. A store given with WithStore is the caller's to close.
// Close also stops observing the key states for [WithMeterProvider].
//
// A key whose request was given up on (a body closed before its end, a
// context ended before the answer) stays leased 100 ms more, as the
// upstream may still be serving it. Close waits for such keys to be given
// back, so that the next process does not take them for a dead holder's:
// close the transport before the store and before the program exits. It
// waits for those given up before it was called, so no longer than the
// rest; a request still in flight then and given up later keeps its key
// the rest after Close has returned.
func (t *Transport) Close() error {
	if t.ring != nil { // nil for a connector without keys
		t.ring.rests.wait()
	}
	t.CloseIdleConnections()
	err := t.tel.close()
	if t.ownStore != nil {
		return errors.Join(err, t.ownStore.Close())
	}
	return err
}

// CloseIdleConnections closes the idle connections of the base transport
// and of the keys' ways out ([WithEgress]).
func (t *Transport) CloseIdleConnections() {
	t.egress.closeIdle()
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// modelFromPath returns the model named by a path such as
// /v1beta/models/gemini-2.5-flash:generateContent, or "".
func modelFromPath(p string) string {
	i := strings.Index(p, "/models/")
	if i < 0 {
		return ""
	}
	m := p[i+len("/models/"):]
	if j := strings.IndexByte(m, ':'); j >= 0 {
		m = m[:j]
	}
	return strings.TrimSuffix(m, "/")
}

// modelFromBody returns the "model" of an OpenAI-style JSON request body
// ("models/" dropped), or "".
func modelFromBody(getBody func() (io.ReadCloser, error)) string {
	rc, err := getBody()
	if err != nil {
		return ""
	}
	defer rc.Close()
	var v struct {
		Model string `json:"model"`
	}
	if json.NewDecoder(io.LimitReader(rc, errorBodyLimit)).Decode(&v) != nil {
		return ""
	}
	return strings.TrimPrefix(v.Model, "models/")
}

// bodyNamesModel reports whether a request to path names its model in a
// JSON body's "model" field: OpenAI-style chat, completions, responses
// and embeddings, and Anthropic's messages.
func bodyNamesModel(path string) bool {
	for _, s := range [...]string{"/chat/completions", "/completions", "/responses", "/embeddings", "/messages"} {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// RoundTrip implements [http.RoundTripper].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	reqBodyClosed := false
	if req.Body != nil {
		defer func() {
			if !reqBodyClosed {
				req.Body.Close()
			}
		}()
	}
	if t.ring == nil {
		// The connector needs no key: nothing to add, nothing to guard.
		reqBodyClosed = true
		rt := t.tel.begin(req)
		resp, err := t.base.RoundTrip(req)
		t.tel.end(rt, resp, err)
		return resp, err
	}
	if !t.sameOrigin(req.URL) {
		// Not ours to key: send it bare.
		t.warnForeignOrigin(req.URL)
		r2 := req.Clone(req.Context())
		stripCredentials(r2, t.slots, -1)
		t.redaction().Redactor("", "").Request(r2) // a Referer, a URL taken from an old answer
		reqBodyClosed = true
		return t.base.RoundTrip(r2)
	}

	getBody, err := t.replayableBody(req)
	reqBodyClosed = true
	if err != nil {
		return nil, err
	}
	rt := t.tel.begin(req)
	resp, err := t.send(req, getBody, rt)
	t.tel.end(rt, resp, err)
	return resp, err
}

// replayableBody returns a function giving the request body afresh for each
// send, and closes the caller's body.
func (t *Transport) replayableBody(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		req.Body.Close()
		return req.GetBody, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, t.maxBody+1))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("jongler: read request body: %w", err)
	}
	if int64(len(buf)) > t.maxBody {
		return nil, fmt.Errorf("jongler: request body over %d bytes has no GetBody and cannot be sent again with another key (see WithMaxBodyBuffer)", t.maxBody)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }, nil
}

// send is RoundTrip's loop over keys, one attempt a turn: lease a key,
// send the request with it, classify the answer, record the verdict, and
// hand the answer back or go on with the next key.
func (t *Transport) send(req *http.Request, getBody func() (io.ReadCloser, error), rt *reqTel) (*http.Response, error) {
	tr := t.newTrip(req, getBody, rt)
	defer tr.releaseHeld() // a no-op unless a base, policy or store panics
	for {
		l, err := tr.lease() // keyring.go: a vacant key whose quotas allow the model
		if err != nil {
			return tr.noLease(err) // errors.go: a 429 or ErrNoKeys, or the store's error
		}
		r2, red, err := tr.request(l) // credentials.go: the key in its slot; internal/redact: out of all that comes back
		if err != nil {
			l.release()
			return nil, err
		}
		resp, err := t.sender(&l.key).RoundTrip(r2) // base.go, egress.go: the key's way out
		rt.sent(l.key.Name, resp, err)
		if err != nil {
			if way, err := tr.wayFailed(l, red, err); way { // egress.go: the proxy failed, not the key
				if err != nil {
					return nil, err
				}
				continue
			}
			if err := tr.failed(l, r2, red, err); err != nil {
				return nil, err
			}
			continue // the same request again, after a backoff
		}
		t.sentThrough(&l.key)
		out, body, err := tr.passOn(l, resp, red)
		if out != nil || err != nil {
			return out, err // a redirect, a success streaming under its lease (lease.go), a cut error
		}
		v := tr.classify(resp, body, red) // policy.go: the error answer, read in memory
		t.ring.record(tr.ctx, &l.key, &v) // keyring.go, internal/quota: cooldowns, learned quotas
		l.release()
		if out, done, err := tr.next(l.key.Name, resp, v); done {
			return out, err
		}
	}
}

// trip is one request's way through send: what it asks for, and what the
// keys tried so far answered.
type trip struct {
	t       *Transport
	req     *http.Request // the caller's, never changed
	getBody func() (io.ReadCloser, error)
	ctx     context.Context
	rt      *reqTel
	info    *reqinfo.Info
	model   string
	refused []tried        // keys not to lease again for this request
	last    *http.Response // the last refusal, body in memory
	retries int
	refusal int     // key refusals so far, bounded by maxRefusals
	held    *leased // the lease to end if a base, policy or store panics
	wayErr  error   // the last failure of a key's way out (egress.go)
}

func (t *Transport) newTrip(req *http.Request, getBody func() (io.ReadCloser, error), rt *reqTel) trip {
	ctx := rt.context(req.Context())
	model := modelFromPath(req.URL.Path)
	if model == "" && getBody != nil && bodyNamesModel(req.URL.Path) {
		model = modelFromBody(getBody)
	}
	info := reqinfo.FromContext(ctx)
	info.SetModel(model)
	rt.setModel(model)
	return trip{
		t: t, req: req, getBody: getBody, ctx: ctx, rt: rt, info: info, model: model,
		refused: t.ownerRefusals(ctx, req, getBody), // keys of projects that cannot see what it names
	}
}

func (tr *trip) releaseHeld() {
	if tr.held != nil {
		tr.held.release()
	}
}

// lease leases a key for the request, waiting as long as it may.
func (tr *trip) lease() (*leased, error) {
	w := tr.rt.waitStart()
	l, err := tr.t.ring.lease(tr.ctx, tr.model, tr.refused)
	tr.rt.waitEnd(w, err)
	if err == nil {
		tr.held = l
	}
	return l, err
}

// noLease answers a request no key can serve now.
func (tr *trip) noLease(err error) (*http.Response, error) {
	if errors.Is(err, ErrNoKeys) && tr.wayErr != nil && tr.last == nil {
		return nil, tr.wayErr // no key left whose way out answered, none refused
	}
	if errors.Is(err, ErrNoKeys) {
		return tr.t.noKey(tr.req, tr.last, err)
	}
	if tr.ctx.Err() == nil {
		tr.info.StoreFailed() // not the upstream: `serve` says which
	}
	return nil, err
}

// request returns the caller's request, cloned, with the leased key in its
// slot and a fresh body, and the redactor that takes the key out of all
// that comes back.
func (tr *trip) request(l *leased) (*http.Request, redact.Redactor, error) {
	r2 := tr.req.Clone(l.watch(tr.ctx))
	if tr.getBody != nil {
		var err error
		if r2.Body, err = tr.getBody(); err != nil {
			return nil, redact.Redactor{}, fmt.Errorf("jongler: request body: %w", err)
		}
		r2.GetBody = tr.getBody
	}
	red := tr.t.redaction().Redactor(l.key.Value, tr.t.setKey(r2, l.key.Value))
	red.Bodies = tr.info.RedactsBodies()
	tr.info.Attempt(l.key.Name)
	return red.Trace(r2), red, nil
}

// failed ends the lease of a send that got no answer and says whether to
// try again (nil, after a backoff) or give up with the error returned.
func (tr *trip) failed(l *leased, r2 *http.Request, red redact.Redactor, err error) error {
	t, ctx := tr.t, tr.ctx
	if ctx.Err() != nil || isTimeout(err) {
		// Given up on before the answer came: the upstream may still be
		// serving it, as after an abandoned body (lease.go).
		l.releaseAfter(t.abandonRest)
		tr.held = nil
	} else {
		l.release()
	}
	err = red.Err(err)
	if errors.Is(context.Cause(r2.Context()), ErrLeaseLost) && ctx.Err() == nil {
		return fmt.Errorf("jongler: %s: key %s: %w", t.connector.Name, l.key.Name, ErrLeaseLost)
	}
	tr.retries++
	if ctx.Err() != nil || tr.retries > t.maxRetries || tr.info.WaitsNot() {
		return err
	}
	if t.logger.Enabled(ctx, slog.LevelDebug) {
		t.logger.Debug("jongler: send failed; trying again", "connector", t.connector.Name, "key", l.key.Name, "err", err)
	}
	return t.clock.Sleep(ctx, t.backoff(backoffMin, backoffMax, tr.retries-1, nil))
}

// passOn returns the answer to hand back with no verdict of a refusal: a
// redirect (read in memory), a success (its body streaming under the lease,
// after its rate-limit headers are recorded), an error answer too long or
// broken to read (cut); or the error of an answer whose body cannot be
// searched for the key. Of another error answer it returns the body, read
// into memory, for classify.
func (tr *trip) passOn(l *leased, resp *http.Response, red redact.Redactor) (out *http.Response, body []byte, err error) {
	t := tr.t
	read, err := red.Answer(resp, tr.req)
	if err != nil {
		// An answer whose body cannot be searched for the key, closed
		// unread: the upstream may be sending it still.
		l.releaseAfter(t.abandonRest)
		tr.held = nil
		return nil, nil, red.Err(fmt.Errorf("jongler: %s: key %s: %w", t.connector.Name, l.key.Name, err))
	}
	if read {
		l.release() // a redirect, read in memory: nothing in flight
		return resp, nil, nil
	}
	if resp.StatusCode < 400 {
		v := t.classifySuccess(l, resp, tr.model, red)
		t.ring.record(tr.ctx, &l.key, &v)
		t.learnOwner(tr.ctx, l.key, tr.req, resp)
		tr.held = nil
		return t.handOff(tr.req, resp, l, red), nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit+1))
	resp.Body.Close()
	if err != nil || len(data) > errorBodyLimit {
		// Too long to read, or broken: pass on what was read, key
		// replaced, then an error saying it was cut (the rest, unread,
		// could show the key too, and so could the tail read, should a
		// key straddle the cut). The upstream is done with it.
		if len(data) > errorBodyLimit {
			data = data[:errorBodyLimit]
			err = fmt.Errorf("jongler: %s: error answer over %d bytes, cut", t.connector.Name, errorBodyLimit)
		}
		red.SetBody(resp, red.Cut(data))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(resp.Body, errReader{red.Err(err)}), resp.Body}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		l.release()
		return resp, nil, nil
	}
	return nil, data, nil
}

// classify asks the policy for its verdict on an error answer whose body
// passOn read, and gives the answer that body with the key taken out.
func (tr *trip) classify(resp *http.Response, data []byte, red redact.Redactor) Verdict {
	v := tr.t.policy.Classify(&Answer{Status: resp.StatusCode, Header: resp.Header, Body: data, Model: tr.model, Now: tr.t.ring.now()})
	red.SetBody(resp, data)
	v.Reason, v.Model = red.Replace(v.Reason), red.Replace(v.Model) // both logged and stored
	tr.rt.judged(v.Action)
	return v
}

// next says, after a verdict on an error answer, whether to hand it back
// (done) or try the request again: with another key after a refusal, or
// after a wait when the upstream failed.
func (tr *trip) next(key string, resp *http.Response, v Verdict) (out *http.Response, done bool, err error) {
	t := tr.t
	switch v.Action {
	case ActionAccept:
		return resp, true, nil
	case ActionRetry:
		tr.retries++
		if tr.retries > t.maxRetries || tr.info.WaitsNot() {
			return resp, true, nil
		}
		wait := v.Wait
		if wait <= 0 {
			wait = t.backoff(backoffMin, backoffMax, tr.retries-1, resp)
		}
		if !mayWait(tr.ctx, t.clock, max(t.ring.maxWait, maxRetryWait), wait) {
			return resp, true, nil // back later than the caller would wait
		}
		t.logger.Debug("jongler: upstream failed; trying again", "connector", t.connector.Name, "status", resp.StatusCode, "in", wait, "reason", v.Reason)
		if err := t.clock.Sleep(tr.ctx, wait); err != nil {
			return nil, true, err
		}
	case ActionLockdown, ActionThrottle:
		tr.refused = append(tr.refused, tried{key, v.Until})
	case ActionDisable:
		tr.refused = append(tr.refused, tried{name: key})
	}
	if tr.refusal++; tr.refusal >= t.maxRefusals() {
		// A policy whose cooldowns end before they start, or clocks
		// that disagree, must not send one request for ever.
		t.logger.Warn("jongler: a request was refused by keys too many times; its last answer is returned",
			"connector", t.connector.Name, "refusals", tr.refusal)
		return resp, true, nil
	}
	tr.last = resp
	return nil, false, nil
}

// classifySuccess shows the policy an answer below 400 (body unread), so
// that rate-limit headers saying the key is spent rest it before it is
// sent another request; the answer itself is returned whatever the
// verdict.
func (t *Transport) classifySuccess(l *leased, resp *http.Response, model string, red redact.Redactor) Verdict {
	// The answer shown lives in the lease, allocated anyway.
	a := &l.answer // zero until now: set field by field, not moved whole
	a.Status, a.Header, a.Model, a.Now = resp.StatusCode, resp.Header, model, t.ring.now()
	v := t.policy.Classify(a)
	v.Reason, v.Model = red.Replace(v.Reason), red.Replace(v.Model) // both logged and stored
	return v
}

// maxRefusals bounds how many times keys may refuse one request: each key
// several times over, for a request that waits for cooldowns to end, and
// never without end.
func (t *Transport) maxRefusals() int { return 4*len(t.ring.keys) + 4 }

var _ http.RoundTripper = (*Transport)(nil)

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// isTimeout reports whether err, from the base transport, is a timeout after
// the connection was made (such as http.Transport's ResponseHeaderTimeout):
// the request may have been sent and still be served. A dial that timed out
// sent nothing.
func isTimeout(err error) bool {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}
