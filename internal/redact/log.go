package redact

import (
	"bytes"
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
// [Mask]. The transport never logs nor returns a key value; this is the
// second line of defence for a program's output and log lines, for
// instance against an upstream that echoes the request. It holds back
// only a tail that could be the start of a secret, so that output still
// streams line by line; Flush writes that tail. A Writer is safe for
// concurrent use.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte // longest first
	pending []byte
}

// NewWriter returns a Writer to w that knows no secret yet.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Clone returns a Writer to w that redacts the secrets r knows now.
func (r *Writer) Clone(w io.Writer) *Writer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Writer{w: w, secrets: slices.Clone(r.secrets)}
}

// Add adds texts to those redacted; those shorter than [MinSecret] are
// left out.
func (r *Writer) Add(texts ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range texts {
		if len(v) >= MinSecret && !slices.ContainsFunc(r.secrets, func(s []byte) bool { return string(s) == v }) {
			r.secrets = append(r.secrets, []byte(v))
		}
	}
	slices.SortFunc(r.secrets, func(a, b []byte) int { return len(b) - len(a) })
}

// Write writes p with every secret replaced, but for a tail that may
// begin one, which it holds back until the next Write or Flush.
func (r *Writer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.secrets) == 0 {
		return r.w.Write(p)
	}
	buf := p // written as is, unless changed: ReplaceAll makes a copy
	if len(r.pending) > 0 {
		buf = append(r.pending, p...)
	}
	for _, s := range r.secrets {
		// ReplaceAll copies buf even when s is not in it: every line
		// of serve's access log, for every key.
		if bytes.Contains(buf, s) {
			buf = bytes.ReplaceAll(buf, s, []byte(Mask))
		}
	}
	keep := r.partialTail(buf)
	if _, err := r.w.Write(buf[:len(buf)-keep]); err != nil {
		r.pending = nil
		return 0, err
	}
	r.pending = append([]byte(nil), buf[len(buf)-keep:]...)
	return len(p), nil
}

// partialTail returns the length of the longest tail of buf that is the
// beginning of a secret.
func (r *Writer) partialTail(buf []byte) int {
	longest := 0
	for _, s := range r.secrets {
		// The leftmost start of a tail that begins s gives the longest;
		// only where buf has s's first byte can one start.
		for i := len(buf) - min(len(s)-1, len(buf)); i < len(buf)-longest; i++ {
			j := bytes.IndexByte(buf[i:len(buf)-longest], s[0])
			if j < 0 {
				break
			}
			if i += j; bytes.HasPrefix(s, buf[i:]) {
				longest = len(buf) - i
				break
			}
		}
	}
	return longest
}

// Flush writes what was held back.
func (r *Writer) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		r.w.Write(r.pending)
		r.pending = nil
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
