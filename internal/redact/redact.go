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

// Redactor replaces one key's value by the caller's placeholder. Its zero
// value is not usable: make one with [New].
type Redactor struct {
	key  string // the leased value; never ""
	with string // what stands in its place, escaped for a URL
	// Bodies is set for a caller who must not learn the key even from a
	// body (the proxy's client): a body read whole is redacted with the
	// forms a [Reader] finds too, and the transport streams the others
	// through one.
	Bodies bool
}

// New returns the Redactor of key (not "") for a caller whose credential
// was placeholder ("" if it sent none).
func New(key, placeholder string) Redactor {
	r := Redactor{key: key, with: Placeholder}
	if placeholder != "" && r.index(placeholder) < 0 {
		r.with = url.QueryEscape(placeholder)
	}
	return r
}

// Contains reports whether s holds the key, raw or escaped.
func (r Redactor) Contains(s string) bool { return r.index(s) >= 0 }

// index returns where in s the key starts, raw or escaped, or -1.
func (r Redactor) index(s string) int {
	i, _ := r.find(s)
	return i
}

// find returns where in s the first occurrence of the key starts and how
// long it is there, or -1.
func (r Redactor) find(s string) (int, int) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		// No escape in s: the key can only be there as it is. (The
		// common case, and a fast one.)
		if i := strings.Index(s, r.key); i >= 0 {
			return i, len(r.key)
		}
		return -1, 0
	}
	k0 := r.key[0]
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != k0 && c != '%' && c != '+' {
			continue
		}
		if n := matchEncoded(s[i:], r.key); n > 0 {
			return i, n
		}
	}
	return -1, 0
}

// matchEncoded returns the length of the prefix of s that spells key, each
// byte raw or percent-encoded to any depth, or 0.
func matchEncoded(s, key string) int {
	p := 0
	for j := 0; j < len(key); j++ {
		b := key[j]
		if b == '%' {
			// A '%' in the key reads as itself or as an escaped '%'
			// ("%25", "%2525"...): try each reading, longest first (an
			// escaped key is likelier than a raw one followed by "25").
			var lens [16]int
			k := 0
			for n := range percentLens(s[p:]) {
				if k == len(lens) {
					break
				}
				lens[k], k = n, k+1
			}
			for k--; k >= 0; k-- {
				n := lens[k]
				if j+1 == len(key) {
					return p + n
				}
				if m := matchEncoded(s[p+n:], key[j+1:]); m > 0 {
					return p + n + m
				}
			}
			return 0
		}
		n := encodedLen(s[p:], b)
		if n == 0 {
			return 0
		}
		p += n
	}
	return p
}

// encodedLen returns the length of the prefix of s that spells b (not
// '%'), or 0: b itself, "+" for a space, or an escape: '%', then "25" (an
// escaped '%') once per extra level of escaping, then the two hex digits
// of b (or of '+' for a space), in either case. "%3F", "%3f" and "%253F"
// all spell "?".
func encodedLen(s string, b byte) int {
	if s == "" {
		return 0
	}
	if s[0] == b || b == ' ' && s[0] == '+' {
		return 1
	}
	if s[0] != '%' {
		return 0
	}
	for q := 1; q+1 < len(s); q += 2 {
		v, ok := unhex2(s[q], s[q+1])
		switch {
		case !ok:
			return 0
		case v == b || b == ' ' && v == '+':
			return q + 2
		case v != '%':
			return 0
		}
	}
	return 0
}

// percentLens yields the lengths of the prefixes of s that spell '%': "%",
// "%25", "%2525"...
func percentLens(s string) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		if s == "" || s[0] != '%' || !yield(1) {
			return
		}
		for q := 1; q+1 < len(s); q += 2 {
			if v, ok := unhex2(s[q], s[q+1]); !ok || v != '%' || !yield(q+2) {
				return
			}
		}
	}
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

// Replace returns s with every occurrence of the key replaced.
func (r Redactor) Replace(s string) string {
	i, n := r.find(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteString(r.with)
		s = s[i+n:]
		i, n = r.find(s)
	}
	b.WriteString(s)
	return b.String()
}

// Header replaces the key in every name and value of h, in place.
func (r Redactor) Header(h http.Header) {
	for name, vs := range h {
		for i, v := range vs {
			if r.index(v) >= 0 {
				vs[i] = r.Replace(v)
			}
		}
		if len(name) >= len(r.key) { // no shorter name can hold it
			if n, ok := r.name(name); ok {
				delete(h, name)
				h[textproto.CanonicalMIMEHeaderKey(n)] = vs
			}
		}
	}
}

// name returns a header's name with the key replaced, and whether it held
// it, in any case of its letters: net/http changes a name's case to its
// canonical form ("X-Aiza..." for "X-AIza..."), and a name's case means
// nothing.
func (r Redactor) name(name string) (string, bool) {
	fold := Redactor{key: lowerASCII(r.key), with: r.with}
	lower := lowerASCII(name)
	i, n := fold.find(lower)
	if i < 0 {
		return name, false
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(name[:i])
		b.WriteString(r.with)
		name, lower = name[i+n:], lower[i+n:]
		i, n = fold.find(lower)
	}
	b.WriteString(name)
	return b.String(), true
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
	if i, _ := r.find(string(data)); i >= 0 {
		data = []byte(r.Replace(string(data)))
	}
	if r.Bodies {
		data = newMatcher(r.key, r.with).replaceAll(data)
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
