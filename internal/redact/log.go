package redact

import (
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Mask replaces a secret in what a [Writer] writes.
const Mask = "[redacted]"

// MinSecret is the length of the shortest secret a [Writer] redacts:
// shorter ones would mangle ordinary text, and no real API key is that
// short.
const MinSecret = 8

// Writer writes to another writer with every secret it knows replaced by
// [Mask], in each form a [Reader] finds a key in. The transport never
// logs nor returns a key value; this is the second line of defence for a
// program's output and log lines, for instance against an upstream that
// echoes the request. It looks for every secret at once (see [Keys]), and
// holds back only a tail that could be the start of one, so that output
// still streams line by line; Flush writes that tail. A Writer is safe for
// concurrent use.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
	m       matcher // of secrets; m.keys nil while there is none
	pending []byte
	out     []byte // reused
}

// NewWriter returns a Writer to w that knows no secret yet.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Clone returns a Writer to w that redacts the secrets r knows now.
func (r *Writer) Clone(w io.Writer) *Writer {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &Writer{w: w, secrets: r.secrets}
	c.m.init(r.m.redactor())
	c.m.others = Mask
	return c
}

// redactor returns the Redactor of m's keys, every one by Mask.
func (m *matcher) redactor() Redactor {
	return Redactor{keys: m.keys, lease: -1, with: Mask}
}

// Add adds texts to those redacted; those shorter than [MinSecret] are
// left out.
func (r *Writer) Add(texts ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.secrets)
	for _, v := range texts {
		if len(v) >= MinSecret && !slices.Contains(r.secrets, v) {
			r.secrets = append(r.secrets, v)
		}
	}
	if len(r.secrets) != n {
		r.secrets = slices.Clip(r.secrets) // a clone may share the old ones
		r.m.init(Redactor{keys: NewKeys(r.secrets...), lease: -1, with: Mask})
		r.m.others = Mask
	}
}

// Write writes p with every secret replaced, but for a tail that may
// begin one, which it holds back until the next Write or Flush.
func (r *Writer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m.keys == nil {
		return r.w.Write(p)
	}
	buf := p
	if len(r.pending) > 0 {
		buf = append(r.pending, p...)
	}
	var rest int
	r.out, rest = r.m.scan(buf, false, r.out[:0])
	if _, err := r.w.Write(r.out); err != nil {
		r.pending = r.pending[:0]
		return 0, err
	}
	r.pending = append(r.pending[:0], buf[rest:]...)
	return len(p), nil
}

// Flush writes what was held back.
func (r *Writer) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		r.out = r.m.replaceAll(r.pending) // at the end, every form is decided
		r.w.Write(r.out)
		r.pending = r.pending[:0]
	}
}

// credentialParams are query parameters that carry credentials, whose
// values are never logged.
var credentialParams = [...]string{"key", "api_key", "apikey", "token", "access_token", "auth", "password", "secret"}

// URLPath returns the path and query of u, as a log line may show them:
// the value of every parameter that carries a credential (the usual
// names, and param unless it is "") replaced by [Placeholder]. Names are
// matched unescaped, in any case of their letters.
func URLPath(u *url.URL, param string) string {
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	parts := strings.Split(u.RawQuery, "&")
	for i, part := range parts {
		k, _, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		name = strings.ToLower(name)
		secret := param != "" && name == strings.ToLower(param)
		for _, s := range credentialParams {
			secret = secret || name == s
		}
		if secret && hasValue {
			parts[i] = k + ("=" + Placeholder)
		}
	}
	return path + "?" + strings.Join(parts, "&")
}
