package jongler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/api-jongler/jongler/internal/egress"
	"github.com/api-jongler/jongler/internal/redact"
	"github.com/api-jongler/jongler/internal/state"
)

// egressReason starts the reason of a key resting because its way out
// failed.
const egressReason = "egress "

// egressRoutes are the ways out of a transport's keys: a key without one
// goes through the base transport.
type egressRoutes struct {
	byKey map[string]*way // key name → its way out
	ways  []*way          // each distinct way once
}

// way is one distinct way out, and the upstream transport of its own
// (its keep-alive pool apart from every other way's), made on first use.
type way struct {
	url    *url.URL // nil: direct
	addr   string   // egress.Addr(url)
	base   *http.Transport
	health health   // of this way: its proxy, with its credentials
	keys   []string // the keys that take it

	mu    sync.Mutex // held while made
	ready atomic.Pointer[http.Transport]
}

// health is what a way's recent failures say: how many in a row, and
// until when its keys rest.
type health struct {
	fails atomic.Int32 // read on every success: the lock only when non-zero
	mu    sync.Mutex
	until time.Time
}

// transport returns the way's transport, made on first use.
func (w *way) transport() http.RoundTripper {
	if ht := w.ready.Load(); ht != nil {
		return ht
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ht := w.ready.Load(); ht != nil {
		return ht
	}
	ht, err := egressTransport(w.base, w.url)
	if err != nil {
		return errRoundTripper{err} // not for a URL egress.Parse read
	}
	w.ready.Store(ht)
	return ht
}

// egressTransport is the upstream transport of the way out u: a clone of
// base whose connections leave through u only. It is the one place such
// transports are made.
func egressTransport(base *http.Transport, u *url.URL) (*http.Transport, error) {
	ht := base.Clone()
	if err := egress.Setup(ht, u, base.DialContext); err != nil {
		return nil, err
	}
	return ht, nil
}

// errRoundTripper fails every request with err.
type errRoundTripper struct{ err error }

func (e errRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, e.err
}

// newEgress returns the ways out of keys: through Tor for every key when
// asked ([WithTor], $APIJONGLER_TOR), else as [WithEgress] says, else as
// the INI file's egress section (table) says; nil when no key has one.
func newEgress(o *options, table egress.Table, keys []Key) (*egressRoutes, error) {
	torAddr, tor := torAddress(o)
	var spec func(k Key) string
	switch {
	case tor:
	case o.egress != nil:
		spec = o.egress
	case len(table) > 0:
		spec = func(k Key) string { return table.Lookup(k.Name, k.Project) }
	default:
		return nil, nil
	}
	base := o.base
	if base == nil {
		base = http.DefaultTransport
	}
	ht, isHT := base.(*http.Transport)
	e := &egressRoutes{byKey: map[string]*way{}}
	byURL := map[string]*way{}
	for _, k := range keys {
		var u *url.URL
		if tor {
			u = egress.TorURL(torAddr, k.Name)
		} else {
			s := strings.TrimSpace(spec(k))
			if s == "" {
				continue // the base transport's way
			}
			l, err := egress.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("jongler: egress of key %q: %v", k.Name, err)
			}
			u = l.Pick(k.Name)
		}
		if !isHT {
			return nil, errors.New("jongler: egress (WithEgress, WithTor or the egress section) needs the base transport to be an *http.Transport")
		}
		id := egress.Direct
		if u != nil {
			id = u.String() // with its user: Tor's circuits are told apart by it
		}
		w := byURL[id]
		if w == nil {
			w = &way{url: u, addr: egress.Addr(u), base: ht}
			byURL[id] = w
			e.ways = append(e.ways, w)
		}
		e.byKey[k.Name] = w
		w.keys = append(w.keys, k.Name)
	}
	if len(e.byKey) == 0 {
		return nil, nil
	}
	return e, nil
}

// sender returns the round tripper that sends k's requests: its way
// out's, or the base transport.
func (t *Transport) sender(k *Key) http.RoundTripper {
	if t.egress == nil {
		return t.base
	}
	if w := t.egress.byKey[k.Name]; w != nil {
		return w.transport()
	}
	return t.base
}

// sentThrough notes that k's way out carried a request: its proxy's
// failures in a row start again from none.
func (t *Transport) sentThrough(k *Key) {
	if t.egress == nil {
		return
	}
	w := t.egress.byKey[k.Name]
	if w == nil || w.health.fails.Load() == 0 {
		return
	}
	w.health.mu.Lock()
	w.health.fails.Store(0)
	w.health.mu.Unlock()
}

// wayFailed handles a send that could not leave through the key's way
// out: the key, and every key of the same way (the same proxy, user and
// password: a proxy may refuse one user and not another), rest for a short
// cooldown growing with the failures in a row (the path's fault, not the
// keys': a lockdown, not an error, no quota learned), and the request goes
// on with another key. It reports whether err was such a failure, and the
// error to return if the request must stop.
func (tr *trip) wayFailed(l *leased, red redact.Redactor, err error) (bool, error) {
	t := tr.t
	var ee *egress.Error
	if t.egress == nil || tr.ctx.Err() != nil || !errors.As(err, &ee) {
		return false, nil
	}
	l.release() // nothing was sent: the proxy was not reached, or refused
	tr.held = nil
	if w := t.egress.byKey[l.key.Name]; w != nil {
		t.egress.rest(tr.ctx, t, w, ee)
	}
	tr.refused = append(tr.refused, tried{name: l.key.Name}) // not again for this request
	tr.wayErr = red.Err(err)
	if tr.refusal++; tr.refusal >= t.maxRefusals() {
		return true, tr.wayErr
	}
	return true, nil
}

// rest puts the keys of way w in lockdown for its cooldown, once a failure: failures while its keys already rest (other
// requests in flight) extend nothing.
func (e *egressRoutes) rest(ctx context.Context, t *Transport, w *way, ee *egress.Error) {
	h := &w.health
	now := t.ring.now()
	h.mu.Lock()
	if now.Before(h.until) {
		h.mu.Unlock()
		return
	}
	n := h.fails.Add(1)
	d := egress.Cooldown(int(n))
	until := now.Add(d)
	h.until = until
	h.mu.Unlock()
	names := w.keys
	reason := egressReason + w.addr + " unreachable: " + ee.Cause()
	r := t.ring
	r.write(ctx, func(st *state.State) error {
		prune(st, now)
		for _, n := range names {
			st.SetRecord(r.forValue(state.Record{Key: n, State: state.Lockdown, Until: until, Reason: reason}))
		}
		return nil
	})
	t.logger.Warn("jongler: egress proxy unreachable; its keys rest", "connector", t.connector.Name,
		"proxy", w.addr, "keys", names, "for", d, "cause", ee.Cause())
}

// showEgress adds each key's way out to its detail, and whether its proxy
// failed and its keys rest.
func (e *egressRoutes) showEgress(ks *KeyStates, now time.Time) {
	if e == nil {
		return
	}
	for name, d := range ks.Keys {
		w := e.byKey[name]
		if w == nil {
			continue
		}
		d.Egress = w.addr
		w.health.mu.Lock()
		d.EgressDown = now.Before(w.health.until) ||
			(d.State == StateLockdown && strings.HasPrefix(d.Reason, egressReason) && now.Before(d.Until))
		w.health.mu.Unlock()
		ks.Keys[name] = d
	}
}

// closeIdle closes the idle connections of every way out made.
func (e *egressRoutes) closeIdle() {
	if e == nil {
		return
	}
	for _, w := range e.ways {
		if ht := w.ready.Load(); ht != nil {
			ht.CloseIdleConnections()
		}
	}
}
