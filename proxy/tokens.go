package proxy

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/api-jongler/jongler/internal/redact"
)

// A token is a credential: it never goes upstream nor into the access log,
// in whatever form a client gives it. Each check decodes before it
// compares: a token is found raw and percent-encoded to any depth, hex
// digits in either case ("%70", "%2570"), in a header's value, in a
// header's or trailer's name whatever the case of its letters (net/http
// changes it), and anywhere in the path or the query, parameters after a
// ';' included.

// minFoundInside is the length of the shortest token looked for inside a
// longer text; a shorter one would match ordinary text by chance, and is
// looked for only as a whole item (see shortItem).
const minFoundInside = redact.MinSecret

// tokenForm is one token and what finds it.
type tokenForm struct {
	text string
	raw  redact.Redactor // the token, in any percent-encoding
	fold redact.Redactor // the same in lower case, for names
}

// tokenSet finds the handler's tokens in what a client sent.
type tokenSet []tokenForm

func newTokenSet(tokens []string) tokenSet {
	var s tokenSet
	for _, t := range tokens {
		s = append(s, tokenForm{text: t, raw: redact.New(t, ""), fold: redact.New(strings.ToLower(t), "")})
	}
	return s
}

// inValue reports whether v holds one of the tokens.
func (s tokenSet) inValue(v string) bool {
	for _, t := range s {
		if t.in(v, false) {
			return true
		}
	}
	return false
}

// inName reports whether a header's name holds one of the tokens, in any
// case of its letters.
func (s tokenSet) inName(name string) bool {
	for _, t := range s {
		if t.in(name, true) {
			return true
		}
	}
	return false
}

// in reports whether v holds the token, its letters in any case if fold.
// Each level of percent-decoding of v is searched too: an escape whose
// hex digits are escaped themselves ("%%37%30" for "%70", "p") spells the
// token only once decoded twice.
func (t tokenForm) in(v string, fold bool) bool {
	switch {
	case len(v) < len(t.text):
		return false // no form of the token is shorter
	case len(t.text) < minFoundInside:
		return shortItem(v, t.text, fold)
	}
	for {
		if fold && t.fold.Contains(strings.ToLower(v)) || !fold && t.raw.Contains(v) {
			return true
		}
		d := unescapeOnce(v)
		if d == v || len(d) < len(t.text) {
			return false
		}
		v = d
	}
}

// itemSeparators end the items of a header's value, a path or a query, in
// which a short token is looked for whole.
const itemSeparators = "/?&=;:, \t"

// shortItem reports whether one of the items of v (its parts between
// itemSeparators), at any depth of percent-decoding, is tok; in any case
// of its letters if fold.
func shortItem(v, tok string, fold bool) bool {
	eq := func(item string) bool {
		item = strings.TrimSpace(item)
		return item == tok || fold && strings.EqualFold(item, tok)
	}
	for {
		if eq(v) || slices.ContainsFunc(strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(itemSeparators, r) }), eq) {
			return true
		}
		d := unescapeOnce(v)
		if d == v {
			return false
		}
		v = d
	}
}

// unescapeOnce decodes every escape of s once ("+" stays), leaving a '%'
// that starts none as it is.
func unescapeOnce(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := []byte(s[:i])
	for ; i < len(s); i++ {
		var c [1]byte
		if s[i] == '%' && i+2 < len(s) {
			if _, err := hex.Decode(c[:], []byte(s[i+1:i+3])); err == nil {
				b = append(b, c[0])
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// inPath reports whether a token is in u's path.
func (s tokenSet) inPath(u *url.URL) bool {
	return len(s) > 0 && (s.inValue(u.EscapedPath()) || s.inValue(u.Path))
}

// inMethod reports whether a token is in a request's method, in any form:
// net/http takes any word of token characters ('%' among them) as a
// method and sends it upstream as it is, so `curl -X "$TOKEN"` would.
func (s tokenSet) inMethod(method string) bool { return s.inName(method) }

// logMethod returns method for the access log: the placeholder in its
// place when it holds a token.
func (s tokenSet) logMethod(method string) string {
	if s.inMethod(method) {
		return redact.Placeholder
	}
	return method
}

// drop takes out of out every header, trailer and query parameter that
// holds a token, in its name or its value: a client may put its token in
// other places than the ones an API key goes (another SDK's header, a
// cookie, a parameter), and the token must never go upstream.
func (s tokenSet) drop(out *http.Request) {
	if len(s) == 0 {
		return
	}
	for _, h := range []http.Header{out.Header, out.Trailer} {
		for name, vs := range h {
			if s.inName(name) || slices.ContainsFunc(vs, s.inValue) {
				delete(h, name)
			}
		}
	}
	out.URL.RawQuery = s.dropFromQuery(out.URL.RawQuery)
}

// dropFromQuery returns the raw query without the parameters that hold a
// token, every other one as it was sent. Parameters are cut at '&' only,
// so that one after a ';' (which url.ParseQuery skips, and an upstream
// may read) goes with the one it is in.
func (s tokenSet) dropFromQuery(raw string) string {
	if raw == "" || !s.inValue(raw) {
		return raw
	}
	parts := strings.Split(raw, "&")
	parts = slices.DeleteFunc(parts, s.inValue)
	kept := strings.Join(parts, "&")
	if s.inValue(kept) {
		// A token across parameters: none of them goes.
		return ""
	}
	return kept
}

// redact returns text, a path and query for the access log, with every
// token in it replaced; a short token found there takes the whole text.
func (s tokenSet) redact(text string) string {
	for _, t := range s {
		switch {
		case len(t.text) >= minFoundInside:
			if text = t.raw.Replace(text); t.in(text, false) {
				return redact.Placeholder // a form Replace does not find
			}
		case shortItem(text, t.text, false):
			return redact.Placeholder
		}
	}
	return text
}
