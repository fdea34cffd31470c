package main

import (
	"fmt"
	"io"
	"testing"

	"github.com/api-jongler/jongler"
)

// BenchmarkRedactorAccessLine measures what the redactor costs an access
// log line of `serve` (which writes every line through it), with 8 and 64
// keys and a token to redact, none of them in the line, as is the rule.
//
//	go test -run '^$' -bench BenchmarkRedactorAccessLine -benchmem ./cmd/apijongler
func BenchmarkRedactorAccessLine(b *testing.B) {
	line := []byte(`time=2026-12-01T00:31:00.123Z level=INFO msg=request method=POST path=/v1beta/models/gemini-2.5-flash:generateContent status=200 connector=generativelanguage.googleapis.com model=gemini-2.5-flash key=key01 attempts=1 bytes=104 duration=131.402µs` + "\n")
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := newRedactor(io.Discard)
			keys := []jongler.Key{{Name: "token", Value: "bench-token-0123"}}
			for i := range n {
				keys = append(keys, jongler.Key{Name: fmt.Sprintf("key%02d", i), Value: fmt.Sprintf("AIzaSy-value-%02d-0123456789abcdef", i)})
			}
			r.addKeys(keys)
			b.ReportAllocs()
			for b.Loop() {
				r.Write(line)
			}
		})
	}
}

// TestRedactorPartialTail checks partialTail against the plain definition
// (the longest n < len(s) such that buf ends with s[:n], over every
// secret s) on every short text of a small alphabet, where secrets overlap
// themselves and each other.
func TestRedactorPartialTail(t *testing.T) {
	r := newRedactor(io.Discard)
	r.addSecrets([]string{"abaabab1", "aab1aab1aab1", "bbbbbbbbb"})
	naive := func(buf []byte) int {
		longest := 0
		for _, s := range r.secrets {
			for n := min(len(s)-1, len(buf)); n > longest; n-- {
				if string(buf[len(buf)-n:]) == string(s[:n]) {
					longest = n
					break
				}
			}
		}
		return longest
	}
	const alphabet = "ab1"
	var gen func(prefix []byte)
	gen = func(prefix []byte) {
		if got, want := r.partialTail(prefix), naive(prefix); got != want {
			t.Fatalf("partialTail(%q) = %d, want %d", prefix, got, want)
		}
		if len(prefix) == 9 {
			return
		}
		for i := range len(alphabet) {
			gen(append(prefix, alphabet[i]))
		}
	}
	gen(nil)
}
