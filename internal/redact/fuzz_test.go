package redact

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedactor: for any key and text the Redactor ends, changes nothing
// where it finds no key, and replaces the key itself in every escaping
// the transport promises to find. Run: go test -run '^$' -fuzz FuzzRedactor ./internal/redact
func FuzzRedactor(f *testing.F) {
	f.Add("AIzaSyD-0123456789abcdef", "https://h/x?key=AIzaSyD-0123456789abcdef&continue=https%3A%2F%2Fh%2F%3Fkey%3DAIzaSyD-0123456789abcdef")
	f.Add("tok+/=?&%#\u00e9 xyz", "key=tok%2B%2F%3D%3F%26%25%23%C3%A9+xyz and %252B")
	f.Add("%%%%", "%25%2525%252525%%%")
	f.Add("a", "aaaa%61%2561")
	f.Fuzz(func(t *testing.T, key, text string) {
		if key == "" || len(key) > 64 || len(text) > 4096 || strings.ContainsAny(key, "<>") {
			return
		}
		r := New(key, "placeholder")
		out := r.Replace(text)
		if r.index(text) < 0 && out != text {
			t.Fatalf("no key in %q, yet it became %q", text, out)
		}
		for _, enc := range []string{key, url.QueryEscape(key), url.PathEscape(key), url.QueryEscape(url.QueryEscape(key))} {
			if got := r.Replace(enc); got != r.with {
				t.Fatalf("key %q written %q became %q, want %q", key, enc, got, r.with)
			}
			// Between bytes that are no part of any escape, the key is
			// replaced wherever it is.
			s := "<" + enc + ">" + text
			if got := r.Replace(s); !strings.HasPrefix(got, "<"+r.with+">") {
				t.Fatalf("key %q in %q: got %q", key, s, got)
			}
		}
	})
}
