package redact

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"slices"
	"testing"
)

// BenchmarkRedactorAccessLine measures what a Writer costs an access log
// line of `serve` (which writes every line through one), with 8 and 64
// keys and a token to redact, none of them in the line, as is the rule.
//
//	go test -run '^$' -bench BenchmarkRedactorAccessLine -benchmem ./internal/redact
func BenchmarkRedactorAccessLine(b *testing.B) {
	line := []byte(`time=2026-12-01T00:31:00.123Z level=INFO msg=request method=POST path=/v1beta/models/gemini-2.5-flash:generateContent status=200 connector=generativelanguage.googleapis.com model=gemini-2.5-flash key=key01 attempts=1 bytes=104 duration=131.402µs` + "\n")
	for _, n := range []int{8, 64, 1000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := NewWriter(io.Discard)
			secrets := []string{"bench-token-0123"}
			for i := range n {
				secrets = append(secrets, fmt.Sprintf("AIzaSy-value-%02d-0123456789abcdef", i))
			}
			r.Add(secrets...)
			b.ReportAllocs()
			for b.Loop() {
				r.Write(line)
			}
		})
	}
}

// TestWriterHoldsBackOnlyAPartialSecret: on every short text of a small
// alphabet, where secrets overlap themselves and each other, a Writer
// holds back exactly the longest tail that is a proper beginning of a
// secret, and writes, in any two pieces, what it writes of the text whole.
func TestWriterHoldsBackOnlyAPartialSecret(t *testing.T) {
	secrets := []string{"abaabab1", "aab1aab1aab1", "bbbbbbbbb"}
	naive := func(buf []byte) int {
		longest := 0
		for _, s := range secrets {
			for n := min(len(s)-1, len(buf)); n > longest; n-- {
				if string(buf[len(buf)-n:]) == s[:n] {
					longest = n
					break
				}
			}
		}
		return longest
	}
	proto := NewWriter(io.Discard)
	proto.Add(secrets...)
	whole := func(text []byte) string {
		var out bytes.Buffer
		r := proto.Clone(&out)
		r.Write(text)
		r.Flush()
		return out.String()
	}
	const alphabet = "ab1"
	var gen func(prefix []byte)
	gen = func(prefix []byte) {
		var out bytes.Buffer
		r := proto.Clone(&out)
		r.Write(prefix)
		if got, want := len(r.pending), naive(prefix); got != want && !slices.ContainsFunc(secrets, func(s string) bool { return bytes.Contains(prefix, []byte(s)) }) {
			t.Fatalf("after %q: %d bytes held back, want %d", prefix, got, want)
		}
		for cut := range len(prefix) + 1 {
			out.Reset()
			r := proto.Clone(&out)
			r.Write(prefix[:cut])
			r.Write(prefix[cut:])
			r.Flush()
			if want := whole(prefix); out.String() != want {
				t.Fatalf("%q written in two at %d: %q, want %q", prefix, cut, out.String(), want)
			}
		}
		if len(prefix) == 9 {
			return
		}
		for i := range len(alphabet) {
			gen(append(prefix, alphabet[i]))
		}
	}
	gen(nil)
	if got := whole([]byte("x abaabab1 y aab1aab1aab1 z")); got != "x "+Mask+" y "+Mask+" z" {
		t.Errorf("secrets not replaced: %q", got)
	}
}

// TestWriterClone: a clone writes to its own writer and redacts the
// secrets known when it was made, not those added later to either; a
// secret shorter than MinSecret is never redacted.
func TestWriterClone(t *testing.T) {
	r := NewWriter(io.Discard)
	r.Add("first-secret-0001", "short")
	var out bytes.Buffer
	c := r.Clone(&out)
	r.Add("second-secret-0002")
	c.Write([]byte("a first-secret-0001 b second-secret-0002 c short\n"))
	c.Flush()
	if got, want := out.String(), "a "+Mask+" b second-secret-0002 c short\n"; got != want {
		t.Errorf("clone wrote %q, want %q", got, want)
	}
}

// TestURLPath: a credential parameter's value is replaced, whatever the
// case or escaping of its name, the connector's own parameter too; other
// parameters, a name with no value, and the path stay as they are.
func TestURLPath(t *testing.T) {
	cases := []struct{ in, param, want string }{
		{"/v1/models", "", "/v1/models"},
		{"/v1/models?key=AIza-x&alt=sse", "", "/v1/models?key=REDACTED&alt=sse"},
		{"/p%20q?KEY=a&Api_Key=b&%61uth=c&token", "", "/p%20q?KEY=REDACTED&Api_Key=REDACTED&%61uth=REDACTED&token"},
		{"/x?sig=s&code=c", "Sig", "/x?sig=REDACTED&code=c"},
		{"/x?=v&sig=s", "", "/x?=v&sig=s"},
		{"/x?%zz=v&password=p", "", "/x?%zz=v&password=REDACTED"},
	}
	for _, c := range cases {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := URLPath(u, c.param); got != c.want {
			t.Errorf("URLPath(%q, %q) = %q, want %q", c.in, c.param, got, c.want)
		}
	}
}
