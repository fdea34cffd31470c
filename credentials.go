package jongler

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
)

// credential says where a key travels in a request.
type credential struct {
	header string // canonical header name, or ""
	prefix string // put before the key in the header
	query  string // query parameter name, or ""
}

// slots lists where the connector accepts a key, in order of preference.
func (t *Transport) credentialSlots() []credential {
	var s []credential
	if h := t.connector.APIKeyHeader; h != "" {
		s = append(s, credential{header: textproto.CanonicalMIMEHeaderKey(h), prefix: t.connector.APIKeyPrefix})
	}
	if !strings.EqualFold(t.connector.APIKeyHeader, "Authorization") {
		s = append(s, credential{header: "Authorization", prefix: "Bearer "})
	}
	if q := t.connector.APIKeyQuery; q != "" {
		s = append(s, credential{query: q})
	}
	return s
}

// setKey puts key into r (a clone the transport owns) in the slot the
// client used for its placeholder, or the connector's default slot, and
// removes every other credential so that exactly one is sent. It returns
// the placeholder it replaced ("" if the client sent none), which stands
// for the key in whatever the transport hands back (see internal/redact).
func (t *Transport) setKey(r *http.Request, key string) (placeholder string) {
	chosen := -1
	for i, c := range t.slots {
		if c.header != "" {
			// Slot names are canonical: the map is read directly.
			if vs := r.Header[c.header]; len(vs) > 0 && vs[0] != "" {
				chosen, placeholder = i, strings.TrimPrefix(vs[0], c.prefix)
				break
			}
		}
		if c.query != "" && hasQueryParam(r.URL.RawQuery, c.query) {
			chosen, placeholder = i, queryParam(r.URL.RawQuery, c.query)
			break
		}
	}
	if chosen < 0 {
		chosen = 0
	}
	c := t.slots[chosen]
	stripCredentials(r, t.slots, chosen)
	if c.header != "" {
		if r.Header == nil { // a request made by hand, sent without a Client
			r.Header = http.Header{}
		}
		r.Header[c.header] = []string{c.prefix + key}
		return placeholder
	}
	u := *r.URL
	u.RawQuery = setQueryParam(u.RawQuery, c.query, key)
	r.URL = &u
	return placeholder
}

// queryParam returns the first value of parameter name in the raw query,
// unescaped (as written if it cannot be).
func queryParam(raw, name string) string {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if k, v, _ := strings.Cut(part, "="); k == name {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}

// stripCredentials removes every credential slot but slots[keep] (none
// when keep is -1) from r, a clone the transport owns.
func stripCredentials(r *http.Request, slots []credential, keep int) {
	for i, c := range slots {
		if i == keep {
			continue
		}
		if c.header != "" {
			delete(r.Header, c.header)
		}
		if c.query != "" && hasQueryParam(r.URL.RawQuery, c.query) {
			u := *r.URL
			u.RawQuery = setQueryParam(u.RawQuery, c.query, "")
			r.URL = &u
		}
	}
}

// hasQueryParam reports whether the raw query has parameter name.
func hasQueryParam(raw, name string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(part, "="); k == name {
			return true
		}
	}
	return false
}

// setQueryParam replaces parameter name in the raw query by name=value
// (dropping it when value is ""), keeping every other parameter as it
// was, in its place. Only the first occurrence is kept.
func setQueryParam(raw, name, value string) string {
	var b strings.Builder
	done := false
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(s)
	}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(part, "="); k == name {
			if !done && value != "" {
				add(name + "=" + queryEscape(value))
			}
			done = true
			continue
		}
		if part != "" {
			add(part)
		}
	}
	if !done && value != "" {
		add(name + "=" + queryEscape(value))
	}
	return b.String()
}

func queryEscape(s string) string {
	return url.QueryEscape(s)
}

func parseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jongler: base URL %q: want http(s)://host[:port]", s)
	}
	return u, nil
}

// sameOrigin reports whether u is for the connector's scheme, host and port.
func (t *Transport) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, t.target.Scheme) &&
		strings.EqualFold(u.Hostname(), t.target.Hostname()) &&
		portOf(u) == portOf(t.target)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// maxWarnedOrigins bounds the origins a transport remembers having warned
// about: a program that sends to many hosts through it gets that many
// warnings, then one saying the rest go unsaid.
const maxWarnedOrigins = 32

// originWarnings remembers the foreign origins a transport warned about.
type originWarnings struct {
	mu   sync.Mutex
	seen map[string]bool
}

// first reports whether origin is new, remembering it; full is true, once,
// when the bound is reached and origin is the first one left unsaid.
func (w *originWarnings) first(origin string) (isNew, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[origin] {
		return false, false
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	if len(w.seen) > maxWarnedOrigins {
		return false, false
	}
	w.seen[origin] = true
	if len(w.seen) > maxWarnedOrigins {
		return false, true
	}
	return true, false
}

// warnForeignOrigin warns, once per transport and origin, that a request
// went to an origin the transport does not key: it leaves with no key
// (its placeholder stripped) and most likely comes back refused, with
// nothing to say why unless this does. Both origins are named: the one the
// request went to and the one the transport serves ([Transport.BaseURL]),
// where the client should send. A request for the connector's public host
// while [WithBaseURL] points elsewhere is the common case, said so.
func (t *Transport) warnForeignOrigin(u *url.URL) {
	origin := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + portOf(u)
	isNew, full := t.foreign.first(origin)
	served := t.target.Scheme + "://" + t.target.Host
	switch {
	case full:
		t.logger.Warn("jongler: requests for more origins are sent without a key; no more of them are named", "connector", t.connector.Name, "served_origin", served)
	case !isNew:
	case strings.EqualFold(u.Hostname(), t.connector.Host):
		t.logger.Warn("jongler: a request for the connector's public host is sent without a key: this transport serves another origin (WithBaseURL); send requests there",
			"connector", t.connector.Name, "request_origin", u.Scheme+"://"+u.Host, "served_origin", served)
	default:
		t.logger.Warn("jongler: a request for another origin is sent without a key: this transport keys only the origin it serves (Transport.BaseURL); send requests there",
			"connector", t.connector.Name, "request_origin", u.Scheme+"://"+u.Host, "served_origin", served)
	}
}
