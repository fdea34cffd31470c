// Package redact keeps a key's value out of everything a transport hands
// back and everything a program prints: one attempt's [Redactor] (strings,
// headers, trailers, errors, URLs, client traces, a body read whole), a
// [Reader] and a [Conn] that replace it in a body or an upgraded
// connection as it streams, across chunk boundaries, and a [Writer] that
// keeps every known secret out of output and log lines.
package redact

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// A key must never leave the transport: whatever a Transport hands back
// (the answer's headers and trailers, a redirect's or an error answer's
// body, resp.Request, every error, every log line) carries the caller's
// own credential, the placeholder, where the upstream or the base
// transport wrote the leased key. A Redactor does that replacement for one
// attempt.
//
// The key is found raw and in any percent-encoding a URL gives it, nested
// to any depth ("%3F", "%3f", "%253F"), with "+" or "%20" for a space: an
// upstream redirect that keeps the query string, or nests the whole URL in
// another parameter ("continue=https%3A%2F%2F...%3Fkey%3D..."), cannot
// carry it out. Other transformations (base64, hashing) are not looked
// for: only the connector's own origin ever receives the key, and nothing
// in HTTP makes a client decode such a form on its behalf.

// Placeholder stands for the key when the caller sent no credential of
// its own, or one that holds the key; and for a credential's value in a
// logged URL ([URLPath]).
const Placeholder = "REDACTED"

// MaxBody bounds how much of an answer's body is read into memory to have
// the key replaced in it: a redirect's longer body is dropped (see
// [Redactor.Answer]), and the transport cuts an error answer's there.
const MaxBody = 1 << 20

// Redactor replaces the values of a set of keys ([Keys]): the key lent
// to the caller by the caller's placeholder, any other by [Placeholder].
// Its zero value is not usable: make one with [New] or [Keys.Redactor].
type Redactor struct {
	keys  *Keys
	lease int32  // the id in keys of the key lent; -1 if none
	with  string // what stands in its place, escaped for a URL
	// Bodies is set for a caller who must not learn the key even from a
	// body (the proxy's client): a body read whole is redacted with the
	// forms a [Reader] finds too, and the transport streams the others
	// through one.
	Bodies bool
}

// New returns the Redactor of key (not "") alone for a caller whose
// credential was placeholder ("" if it sent none).
func New(key, placeholder string) Redactor {
	return NewKeys(key).Redactor(key, placeholder)
}

// escapePlaceholder is the placeholder as it stands in for a key: escaped
// for a URL, where the key may have been.
func escapePlaceholder(p string) string { return url.QueryEscape(p) }

// Contains reports whether s holds a key, raw or escaped.
func (r Redactor) Contains(s string) bool { return r.index(s) >= 0 }

// index returns where in s a key starts, raw or escaped, or -1.
func (r Redactor) index(s string) int {
	i, _, _ := r.find(s)
	return i
}

// find returns where in s the first occurrence of a key starts, how long
// it is there and the key's id; -1 if there is none.
func (r Redactor) find(s string) (int, int, int32) {
	if r.keys == nil || len(s) == 0 {
		return -1, 0, -1
	}
	var w *walker
	cu := newCursor()
	i, n, id, _ := r.keys.exact.find(&w, &cu, view(s), 0, textForms, true)
	return i, n, id
}

// replacement returns what stands in place of the key id.
func (r Redactor) replacement(id int32) string {
	if id == r.lease {
		return r.with
	}
	return Placeholder
}

func unhex2(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Replace returns s with every occurrence of a key replaced.
func (r Redactor) Replace(s string) string {
	return r.replaceIn(s, s, &r.keys.exact)
}

// replaceIn returns s with every key t finds in look (s, or s in another
// case) replaced.
func (r Redactor) replaceIn(s, look string, t *trie) string {
	if r.keys == nil {
		return s
	}
	var w *walker
	cu := newCursor()
	i, n, id, _ := t.find(&w, &cu, view(look), 0, textForms, true)
	if i < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i >= 0 {
		b.WriteString(s[last:i])
		b.WriteString(r.replacement(id))
		last = i + n
		i, n, id, _ = t.find(&w, &cu, view(look), last, textForms, true)
	}
	b.WriteString(s[last:])
	return b.String()
}

// Header replaces the keys in every name and value of h, in place.
func (r Redactor) Header(h http.Header) {
	if r.keys == nil {
		return
	}
	for name, vs := range h {
		for i, v := range vs {
			if r.index(v) >= 0 {
				vs[i] = r.Replace(v)
			}
		}
		if len(name) < r.keys.fold.minLen {
			continue // too short to hold one
		}
		if n, ok := r.name(name); ok {
			delete(h, name)
			h[textproto.CanonicalMIMEHeaderKey(n)] = vs
		}
	}
}

// name returns a header's name with the keys replaced, and whether it
// held one, in any case of its letters: net/http changes a name's case to
// its canonical form ("X-Aiza..." for "X-AIza..."), and a name's case
// means nothing.
func (r Redactor) name(name string) (string, bool) {
	lower := lowerASCII(name)
	out := r.replaceIn(name, lower, &r.keys.fold)
	return out, len(out) != len(name) || out != name
}

// lowerASCII returns s with its ASCII letters in lower case, every byte
// where it was.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Answer makes resp, the answer to one attempt, fit to hand back to the
// caller of req: the caller's own request, the key replaced in the status
// line's reason phrase, in every header, and in a redirect's body, which
// is read into memory (up to [MaxBody]; a longer one is dropped: a client
// following the redirect never reads it). It reports whether it did read
// the body: then the upstream is done with the request. It does not touch
// an error answer's body (see [Redactor.SetBody]) nor an upgraded
// connection's (see [Conn]); nor the trailers of a body it does not read,
// which are there only once that body is read to its end, declared or not:
// whoever hands that body on replaces the key in resp.Trailer then.
//
// A body whose key is to be replaced (a redirect's, an error answer's, and
// every body when Bodies is set) comes with its content codings undone
// (see decode.go); one in a coding that cannot be undone fails the answer
// with an [EncodingError], its body closed.
func (r Redactor) Answer(resp *http.Response, req *http.Request) (read bool, err error) {
	resp.Request = req
	if r.index(resp.Status) >= 0 { // the reason phrase is the upstream's to write
		resp.Status = r.Replace(resp.Status)
	}
	r.Header(resp.Header)
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		return false, nil
	}
	redirect := resp.StatusCode >= 300 && resp.StatusCode < 400
	if redirect || resp.StatusCode >= 400 || r.Bodies {
		if err := decode(resp); err != nil {
			return false, err
		}
	}
	if redirect {
		data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
		resp.Body.Close()
		if err != nil || len(data) > MaxBody {
			data = nil
		}
		r.SetBody(resp, data)
		return true, nil
	}
	return false, nil
}

// SetBody sets resp's body to data (read from it, to its end or not) with
// the key replaced, and its length to match; and replaces the key in the
// trailers the body gave, if it was read to its end.
func (r Redactor) SetBody(resp *http.Response, data []byte) {
	if r.index(string(data)) >= 0 {
		data = []byte(r.Replace(string(data)))
	}
	if r.Bodies {
		data = newMatcher(r).replaceAll(data)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	if resp.Header.Get("Content-Length") != "" {
		resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	}
	r.Header(resp.Trailer)
}

// Err returns err with the key replaced in its text and in the text of
// every error in its tree; err itself when none shows the key. A
// *url.Error comes back as a redacted copy; any other error is wrapped in
// an error that keeps errors.Is and errors.As to what the original chain
// matched, without the key.
func (r Redactor) Err(err error) error {
	if err == nil || !r.inTree(err, 0) {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: r.Replace(ue.URL), Err: r.Err(ue.Err)}
	}
	e := &redactedError{msg: r.Replace(err.Error()), err: err, r: r}
	if _, ok := err.(interface{ Unwrap() []error }); ok {
		return &redactedErrors{e}
	}
	return e
}

// inTree reports whether err's text, or that of an error in its tree,
// shows the key.
func (r Redactor) inTree(err error, depth int) bool {
	if err == nil || depth > 100 {
		return false
	}
	if r.index(err.Error()) >= 0 {
		return true
	}
	switch x := err.(type) {
	case *url.Error:
		return r.index(x.URL) >= 0 || r.inTree(x.Err, depth+1)
	case interface{ Unwrap() error }:
		return r.inTree(x.Unwrap(), depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			if r.inTree(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// redactedError is an error whose text showed a key. Its text has the
// key replaced; it unwraps to the wrapped error's own cause, redacted the
// same way, so that no error in its chain shows the key. errors.Is
// matches what the original chain matched; errors.As finds its errors
// too, a *url.Error as a redacted copy, but not a typed error whose text
// shows the key and that cannot be copied without it.
type redactedError struct {
	msg string
	err error // the original
	r   Redactor
}

func (e *redactedError) Error() string { return e.msg }

// GoString keeps %#v to the redacted text: the fields hold the key.
func (e *redactedError) GoString() string {
	return "&redact.redactedError{msg: " + strconv.Quote(e.msg) + "}"
}

// Unwrap returns the original's cause, redacted.
func (e *redactedError) Unwrap() error { return e.r.Err(errors.Unwrap(e.err)) }

// Is reports whether the original, at its own level, is target.
func (e *redactedError) Is(target error) bool {
	if x, ok := e.err.(interface{ Is(error) bool }); ok && x.Is(target) {
		return true
	}
	return target != nil && reflect.TypeOf(target).Comparable() && e.err == target
}

// As finds, at the original's own level, an error for target, without the
// key.
func (e *redactedError) As(target any) bool {
	tv := reflect.ValueOf(target)
	if tv.Kind() != reflect.Pointer || tv.IsNil() {
		return false
	}
	want := tv.Type().Elem()
	var found any
	if reflect.TypeOf(e.err).AssignableTo(want) {
		found = e.err
	} else if x, ok := e.err.(interface{ As(any) bool }); ok {
		tmp := reflect.New(want)
		if !x.As(tmp.Interface()) {
			return false
		}
		found = tmp.Elem().Interface()
	} else {
		return false
	}
	switch v := found.(type) {
	case *url.Error:
		found = e.r.Err(v)
	case error:
		if e.r.inTree(v, 0) {
			return false // shows the key, and cannot be copied without it
		}
	}
	fv := reflect.ValueOf(found)
	if !fv.IsValid() || !fv.Type().AssignableTo(want) {
		return false
	}
	tv.Elem().Set(fv)
	return true
}

// redactedErrors is a redactedError whose original unwraps to several
// errors (errors.Join, fmt.Errorf with several %w).
type redactedErrors struct{ *redactedError }

// Unwrap returns the original's causes, redacted.
func (e *redactedErrors) Unwrap() []error {
	errs := e.err.(interface{ Unwrap() []error }).Unwrap()
	out := make([]error, 0, len(errs))
	for _, c := range errs {
		out = append(out, e.r.Err(c))
	}
	return out
}

// Request replaces the key in req's URL and headers, in place: req is a
// clone the caller owns of a request for an address that must not get
// the key (a Referer, a URL the caller took from an old answer). A URL
// that no longer parses once redacted becomes its origin's root.
func (r Redactor) Request(req *http.Request) {
	if s := req.URL.String(); r.index(s) >= 0 {
		if u, err := url.Parse(r.Replace(s)); err == nil {
			req.URL = u
		} else {
			req.URL = &url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: "/"}
		}
	}
	r.Header(req.Header)
}

// Trace returns req (a clone the transport owns) with a client trace that
// replaces the key in what the caller's own trace hooks are given, when
// the caller set any that could see it: the header fields as written
// (WroteHeaderField, which otelhttptrace records) and the headers of an
// informational answer such as 103 Early Hints (Got1xxResponse, which
// httputil.ReverseProxy passes on to its client). The hooks of a trace
// added to the context run before the caller's, with the same arguments.
func (r Redactor) Trace(req *http.Request) *http.Request {
	ct := httptrace.ContextClientTrace(req.Context())
	if ct == nil || ct.WroteHeaderField == nil && ct.Got1xxResponse == nil {
		return req
	}
	own := &httptrace.ClientTrace{}
	if ct.WroteHeaderField != nil {
		own.WroteHeaderField = func(_ string, values []string) {
			for i, v := range values {
				values[i] = r.Replace(v)
			}
		}
	}
	if ct.Got1xxResponse != nil {
		own.Got1xxResponse = func(_ int, h textproto.MIMEHeader) error {
			r.Header(http.Header(h))
			return nil
		}
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), own))
}
