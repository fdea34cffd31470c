package redact

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestRedactorFindsEveryEncoding: the key is found raw, query- and
// path-escaped, nested up to three times, in either hex case, with a '%'
// or a space of its own, and replaced by the placeholder; text without it
// is returned as it is.
func TestRedactorFindsEveryEncoding(t *testing.T) {
	keys := []string{"AIzaSyD-0123456789abcdef", "tok+/=?&%#\u00e9 xyz", "%41%zz%", "100%25 sure", "  lead and trail  "}
	encodings := map[string]func(string) string{
		"raw":   func(s string) string { return s },
		"query": url.QueryEscape,
		"path":  url.PathEscape,
		"query twice": func(s string) string {
			return url.QueryEscape(url.QueryEscape(s))
		},
		"query thrice": func(s string) string {
			return url.QueryEscape(url.QueryEscape(url.QueryEscape(s)))
		},
		"path then query": func(s string) string { return url.QueryEscape(url.PathEscape(s)) },
		"lower hex":       func(s string) string { return lowerHexForTest(url.QueryEscape(s)) },
		"every byte": func(s string) string {
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				fmt.Fprintf(&b, "%%%02X", s[i])
			}
			return b.String()
		},
	}
	for _, key := range keys {
		r := New(key, "placeholder")
		for name, enc := range encodings {
			s := "https://h/x?a=1&key=" + enc(key) + "&b=" + enc(key) + "#" + enc(key)
			got := r.Replace(s)
			if want := "https://h/x?a=1&key=placeholder&b=placeholder#placeholder"; got != want {
				t.Errorf("key %q, %s: %q\n  -> %q, want %q", key, name, s, got, want)
			}
		}
	}
	r := New("AIzaSyD-0123456789abcdef", "placeholder")
	for _, s := range []string{"", "%", "%%%", "%2", "%25", "+", "AIzaSyD-0123456789abcde", "AIzaSyD-0123456789abcdeF", "%41IzaSyD-0123456789abcde"} {
		if got := r.Replace(s); got != s {
			t.Errorf("%q -> %q, want it unchanged", s, got)
		}
	}
	// A placeholder holding the key, or none, is not echoed.
	if r := New("secret-value", "x-secret-value-x"); r.with != Placeholder {
		t.Errorf("placeholder holding the key: with = %q", r.with)
	}
	if r := New("secret-value", ""); r.with != Placeholder {
		t.Errorf("no placeholder: with = %q", r.with)
	}
	if r := New("secret-value", "a b&c"); r.with != "a+b%26c" {
		t.Errorf("placeholder escaped: with = %q", r.with)
	}
}

// TestRedactedErrorIsAndAs checks the chain rules of redactedError: Is
// and As see what the original chain holds, never the key.
func TestRedactedErrorIsAndAs(t *testing.T) {
	sentinel := errors.New("sentinel")
	r := New("secret-value", "ph")
	orig := fmt.Errorf("outer secret-value: %w", &url.Error{Op: "Get", URL: "http://h/?key=secret-value", Err: fmt.Errorf("inner secret-value: %w", sentinel)})
	err := r.Err(orig)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), "secret-value") || strings.Contains(fmt.Sprintf("%#v", e), "secret-value") {
			t.Errorf("in the chain: %#v", e)
		}
	}
	if !errors.Is(err, sentinel) {
		t.Error("errors.Is lost the sentinel")
	}
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "http://h/?key=ph" {
		t.Errorf("errors.As(*url.Error) = %v", ue)
	}
	if clean := errors.New("clean"); r.Err(clean) != clean {
		t.Error("an error without the key is wrapped")
	}
}

func lowerHexForTest(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = toLower(b[i+1]), toLower(b[i+2])
		}
	}
	return string(b)
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
