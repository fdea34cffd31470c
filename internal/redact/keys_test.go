package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// geminiKeys returns n values shaped as Gemini's keys ("AIzaSy" and 33
// more), all different, the same on every run.
func geminiKeys(n int) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	out := make([]string, n)
	for i := range out {
		b := []byte("AIzaSy")
		for range 33 {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		out[i] = string(b)
	}
	return out
}

// TestKeysRedactEveryKeyOfTheSet: with a thousand keys known, an upstream
// that echoes any of them (not only the one it was sent), raw,
// percent-encoded or JSON-escaped, in a streamed body cut anywhere, in a
// header's value or name, in an error or in a whole body, has each
// replaced: the lent key by the caller's placeholder, the others by
// Placeholder.
func TestKeysRedactEveryKeyOfTheSet(t *testing.T) {
	vals := geminiKeys(1000)
	keys := NewKeys(vals...)
	lent, other, third := vals[417], vals[3], vals[999]
	red := keys.Redactor(lent, "apijongler")
	body := `{"a":"` + lent + `","b":"` + other + `","c":"` + url.QueryEscape(url.QueryEscape(third)) +
		`","d":"` + jsonEscape(other) + `","e":"` + vals[0][:20] + `"}`
	want := `{"a":"apijongler","b":"REDACTED","c":"REDACTED","d":"REDACTED","e":"` + vals[0][:20] + `"}`
	for _, size := range []byte{1, 2, 7, 39, 200} {
		got, err := io.ReadAll(NewReader(&chunkReader{data: []byte(body), sizes: []byte{size}}, red))
		if err != nil || string(got) != want {
			t.Errorf("chunks of %d: got %s, %v\nwant %s", size, got, err, want)
		}
	}
	h := http.Header{"Location": {"https://h/?key=" + other}, "X-" + strings.ToUpper(third): {"v"}}
	red.Header(h)
	if got := h.Get("Location"); got != "https://h/?key=REDACTED" {
		t.Errorf("Location: %q", got)
	}
	for name := range h {
		if strings.Contains(strings.ToLower(name), strings.ToLower(third)) {
			t.Errorf("header name %q keeps a key", name)
		}
	}
	err := red.Err(fmt.Errorf("dial %s: %w", third, errors.New("refused "+url.PathEscape(lent))))
	if got := err.Error(); got != "dial REDACTED: refused apijongler" {
		t.Errorf("error: %q", got)
	}
	resp := &http.Response{Header: http.Header{}}
	red.Bodies = true
	red.SetBody(resp, []byte(body))
	if got, _ := io.ReadAll(resp.Body); string(got) != want {
		t.Errorf("body read whole: %s", got)
	}
	// A value the set does not hold is found too, as the lent one.
	solo := keys.Redactor("not-in-the-set-0123", "")
	if got := solo.Replace("x not-in-the-set-0123 " + other); got != "x REDACTED REDACTED" {
		t.Errorf("lent key outside the set: %q", got)
	}
}

// TestWriterRedactsEveryForm: a log line holding a secret raw,
// percent-encoded or JSON-escaped is written with each replaced, at a
// thousand secrets as at one.
func TestWriterRedactsEveryForm(t *testing.T) {
	vals := geminiKeys(1000)
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Add(vals...)
	fmt.Fprintf(w, "a %s b %s c %s\n", vals[10], url.QueryEscape(url.QueryEscape(vals[500])), jsonEscape(vals[999]))
	w.Flush()
	if got, want := out.String(), "a "+Mask+" b "+Mask+" c "+Mask+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// BenchmarkRedactStreamKeys reads the stream of BenchmarkRedactStream
// through a Reader that knows 1, 8 or 1,000 keys (none in the stream):
// the cost of looking for every key the process knows, not only the one
// lent.
//
//	go test -run '^$' -bench 'RedactStream' -benchmem ./internal/redact
func BenchmarkRedactStreamKeys(b *testing.B) {
	event := `data: {"candidates":[{"content":{"parts":[{"text":"And so Alice\nasked: \"Are 100% of these Answers right?\" A+ work."}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":40},"modelVersion":"gemini-2.5-flash"}` + "\n\n"
	data := []byte(strings.Repeat(event, 200))
	buf := make([]byte, 32<<10)
	for _, n := range []int{1, 8, 1000} {
		vals := geminiKeys(n)
		red := NewKeys(vals...).Redactor(vals[0], "apijongler")
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				rc := NewReader(&chunkReader{data: data, sizes: []byte{byte(len(event))}}, red)
				for {
					if _, err := rc.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}

// TestKeysFoldedAlike: two values that differ only in the case of their
// letters are both found, in header names as elsewhere.
func TestKeysFoldedAlike(t *testing.T) {
	red := NewKeys("Secret-Value-01", "secret-value-01", "secret").Redactor("", "")
	h := http.Header{"X-Secret-Value-01": {"Secret-Value-01 secret-value-01"}}
	red.Header(h)
	if got := h.Get("X-REDACTED"); got != "REDACTED REDACTED" {
		t.Errorf("got %v", h)
	}
}

// FuzzRedactKeys: with two keys known, a body read through a Reader in any
// chunks is the body redacted whole; each key, written raw,
// percent-encoded or JSON-escaped between bytes of no form, is replaced,
// the lent one by the placeholder, the other by Placeholder. Run:
// go test -run '^$' -fuzz FuzzRedactKeys ./internal/redact
func FuzzRedactKeys(f *testing.F) {
	f.Add("AIzaSyD-one-0123", "AIzaSyD-two-4567", `{"a":"AIzaSyD-two-4567","b":"AIzaSyD-one-0123"}`, []byte{3, 1, 7})
	f.Add("abcdefgh", "abcdefghij", "abcdefghij abcdefgh abcdefg", []byte{1})
	f.Add("%%%%", "%25%25", "%25%2525%%%%", []byte{2, 0, 5})
	f.Fuzz(func(t *testing.T, one, two, text string, sizes []byte) {
		if one == "" || two == "" || one == two || len(one) > 48 || len(two) > 48 || len(text) > 4096 {
			return
		}
		red := NewKeys(one, two).Redactor(one, "placeholder")
		want := newMatcher(red).replaceAll([]byte(text))
		got, err := io.ReadAll(NewReader(&chunkReader{data: []byte(text), sizes: sizes}, red))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("keys %q %q, %q in chunks %v:\n got %q\nwant %q", one, two, text, sizes, got, want)
		}
		if strings.ContainsAny(one+two, "<>") || strings.Contains(one, two) || strings.Contains(two, one) {
			return
		}
		for k, with := range map[string]string{one: red.with, two: Placeholder} { // red.with: the placeholder, unless it holds a key
			for _, enc := range []string{k, url.QueryEscape(k), url.QueryEscape(url.QueryEscape(k)), jsonEscape(k)} {
				s := "<" + enc + ">"
				if got := newMatcher(red).replaceAll([]byte(s)); string(got) != "<"+with+">" {
					t.Fatalf("key %q written %q: got %q, want <%s>", k, s, got, with)
				}
				if got := red.Replace("<" + url.QueryEscape(k) + ">"); got != "<"+with+">" {
					t.Fatalf("key %q escaped: Replace gives %q", k, got)
				}
			}
		}
	})
}
