package redact

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRedactAnswer measures what redaction adds to a 2xx answer: a
// Redactor for the attempt, from the transport's set of keys (here 8),
// and a scan of the headers a Gemini answer carries, none holding a key
// (the common case: nothing is copied).
// Run:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./internal/redact
func BenchmarkRedactAnswer(b *testing.B) {
	const key = "AIzaSyD-bench-0123456789abcdefghijklmnop"
	header := http.Header{
		"Content-Type":           {"application/json; charset=UTF-8"},
		"Vary":                   {"Origin", "X-Origin", "Referer"},
		"Date":                   {"Mon, 30 Nov 2026 22:02:47 GMT"},
		"Server":                 {"scaffolding on HTTPServer2"},
		"X-Xss-Protection":       {"0"},
		"X-Frame-Options":        {"SAMEORIGIN"},
		"X-Content-Type-Options": {"nosniff"},
		"Server-Timing":          {"gfet4t7; dur=1234"},
		"Alt-Svc":                {`h3=":443"; ma=2592000,h3-29=":443"; ma=2592000`},
	}
	req, _ := http.NewRequest(http.MethodPost, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", http.NoBody)
	req.Header.Set("x-goog-api-key", "placeholder")
	resp := &http.Response{StatusCode: 200, ProtoMajor: 1, Header: header, Body: io.NopCloser(strings.NewReader("{}"))}
	keys := NewKeys(append(geminiKeys(7), key)...)
	b.ReportAllocs()
	for b.Loop() {
		r := keys.Redactor(key, "placeholder")
		r.Answer(resp, req)
	}
}

// BenchmarkRedactLocation measures a redirect's Location holding the key
// nested in another parameter: found, and the header value rewritten.
func BenchmarkRedactLocation(b *testing.B) {
	const key = "AIzaSyD-bench-0123456789abcdefghijklmnop"
	loc := "https://accounts.example.com/login?continue=https%3A%2F%2Fgenerativelanguage.googleapis.com%2Fv1beta%2Fmodels%3Fkey%3D" + key + "%26alt%3Dsse"
	keys := NewKeys(append(geminiKeys(7), key)...)
	b.ReportAllocs()
	for b.Loop() {
		h := http.Header{"Location": {loc}}
		keys.Redactor(key, "placeholder").Header(h)
	}
}
