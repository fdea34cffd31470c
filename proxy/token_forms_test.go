package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/api-jongler/jongler/proxy"
)

// escapeAll percent-encodes every byte of s, its hex digits in upper case
// or, with lower, in lower case.
func escapeAll(s string, lower bool) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	if lower {
		return strings.ToLower(b.String())
	}
	return b.String()
}

// escapeTwice percent-encodes s twice: "%" of each escape is "%25".
func escapeTwice(s string, lower bool) string {
	return strings.ReplaceAll(escapeAll(s, lower), "%", "%25")
}

// escapeHexDigits percent-encodes every byte of s, then each hex digit
// of those escapes once more ("p" is "%70", then "%%37%30"): a server
// that decodes twice reads s.
func escapeHexDigits(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%%%02X%%%02X", "0123456789ABCDEF"[s[i]>>4], "0123456789ABCDEF"[s[i]&15])
	}
	return b.String()
}

// decodeAll undoes every level of percent-encoding of s, leaving a '%'
// that starts no escape as it is.
func decodeAll(s string) string {
	for {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) {
				var c byte
				if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err == nil && isHex(s[i+1]) && isHex(s[i+2]) {
					b.WriteByte(c)
					i += 2
					continue
				}
			}
			b.WriteByte(s[i])
		}
		if b.String() == s {
			return s
		}
		s = b.String()
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// holdsTokenForm reports whether text holds tok in any form: raw, in any
// case of its letters, percent-encoded to any depth.
func holdsTokenForm(text, tok string) bool {
	return strings.Contains(strings.ToLower(decodeAll(text)), strings.ToLower(tok))
}

// TestTokenFormsNeverLeave: the token in whatever form a client gives it
// (a header's name, percent-encoded with either case of hex digits, once
// or twice, in the path, a query parameter, a cookie, another header, a
// trailer) never reaches the upstream nor the access log; a request keeps
// everything else.
func TestTokenFormsNeverLeave(t *testing.T) {
	models := "/v1beta/models/"
	cases := []struct {
		name   string
		target string   // path and query
		cred   bool     // the token in x-goog-api-key too
		hdr    []string // name, value...
		trail  []string // request trailers: name, value...
		status int
	}{
		{name: "header name", target: genPath, cred: true, hdr: []string{"X-" + token, "1"}, status: 200},
		{name: "header name upper case", target: genPath, cred: true, hdr: []string{"X-" + strings.ToUpper(token), "1"}, status: 200},
		{name: "header name escaped", target: genPath, cred: true, hdr: []string{"X-" + escapeAll(token, true), "1"}, status: 200},
		{name: "header value escaped", target: genPath, cred: true, hdr: []string{"X-Note", escapeAll(token, false)}, status: 200},
		{name: "header value escaped twice", target: genPath, cred: true, hdr: []string{"X-Note", "a " + escapeTwice(token, true) + " b"}, status: 200},
		{name: "header value hex digits escaped", target: genPath, cred: true, hdr: []string{"X-Note", "a " + escapeHexDigits(token) + " b"}, status: 200},
		{name: "header name hex digits escaped", target: genPath, cred: true, hdr: []string{"X-" + escapeHexDigits(token), "1"}, status: 200},
		{name: "query value hex digits escaped", target: genPath + "?alt=sse&q=" + escapeHexDigits(token), cred: true, status: 200},
		{name: "cookie escaped", target: genPath, cred: true, hdr: []string{"Cookie", "theme=dark; session=" + escapeAll(token, true)}, status: 200},
		{name: "cookie escaped twice", target: genPath, cred: true, hdr: []string{"Cookie", "session=" + escapeTwice(token, false)}, status: 200},
		{name: "query value escaped lower hex", target: genPath + "?alt=sse&q=" + escapeAll(token, true), cred: true, status: 200},
		{name: "query value escaped twice", target: genPath + "?alt=sse&q=" + escapeTwice(token, false), cred: true, status: 200},
		{name: "query name escaped twice", target: genPath + "?alt=sse&" + escapeTwice(token, true) + "=1", cred: true, status: 200},
		{name: "query after a semicolon", target: genPath + "?alt=sse&x=1;q=" + escapeAll(token, false), cred: true, status: 200},
		{name: "trailer", target: genPath, cred: true, trail: []string{"X-Sum", escapeAll(token, false)}, status: 200},
		{name: "trailer name", target: genPath, cred: true, trail: []string{"X-" + token, "1"}, status: 200},
		{name: "path escaped upper hex", target: models + escapeAll(token, false) + ":generateContent", cred: true, status: 400},
		{name: "path escaped lower hex", target: models + "x" + escapeAll(token, true) + ":generateContent", cred: true, status: 400},
		{name: "path escaped twice", target: models + escapeTwice(token, false) + ":generateContent", cred: true, status: 400},
		{name: "path escaped twice lower hex", target: "/gemini" + models + escapeTwice(token, true) + ":generateContent", cred: true, status: 400},
		{name: "path without a credential", target: models + token + ":generateContent", status: 401},
		{name: "path escaped without a credential", target: models + escapeTwice(token, true) + ":generateContent?q=" + escapeAll(token, true), status: 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			logs := &syncBuffer{}
			ps := recorderProxy(t, rec, logs, nil)
			var body io.Reader = strings.NewReader(genBody)
			if c.trail != nil {
				// A body of unknown length goes chunked, trailers after it.
				body = io.MultiReader(strings.NewReader(genBody))
			}
			req, err := http.NewRequest("POST", ps.URL+c.target, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.cred {
				req.Header.Set("X-Goog-Api-Key", token)
			}
			req.Header.Set("X-Keep", "kept")
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header[c.hdr[i]] = append(req.Header[c.hdr[i]], c.hdr[i+1])
			}
			if c.trail != nil {
				req.Trailer = http.Header{}
				for i := 0; i+1 < len(c.trail); i += 2 {
					req.Trailer[c.trail[i]] = []string{c.trail[i+1]}
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, answer)
			}
			reqs := rec.all()
			if c.status != 200 && len(reqs) > 0 {
				t.Fatalf("%d requests went upstream; want none", len(reqs))
			}
			for i, r := range reqs {
				var dump strings.Builder
				r.Write(&dump)
				sent := dump.String() + fmt.Sprint(r.Trailer) + rec.body[i]
				if holdsTokenForm(sent, token) {
					t.Errorf("the token went upstream:\n%s", sent)
				}
				if r.Header.Get("X-Keep") != "kept" {
					t.Errorf("more than the token was dropped: %v", r.Header)
				}
				if strings.Contains(c.target, "alt=sse") && r.URL.Query().Get("alt") != "sse" {
					t.Errorf("the query lost alt=sse: %q", r.URL.RawQuery)
				}
			}
			if !strings.Contains(logs.String(), `"msg":"request"`) {
				t.Fatalf("no access log line:\n%s", logs)
			}
			if holdsTokenForm(logs.String(), token) {
				t.Errorf("the log holds the token:\n%s", logs)
			}
			if holdsTokenForm(string(answer), token) {
				t.Errorf("the answer holds the token: %s", answer)
			}
		})
	}
}

// TestShortTokenWholeItems: a token too short to be looked for inside
// other text (under 8 bytes; `serve` takes one only on loopback) is still
// found whole, at any depth of percent-encoding: a header's value or name,
// a cookie, a query parameter, a path segment.
func TestShortTokenWholeItems(t *testing.T) {
	const short = "ab12cd"
	cases := []struct {
		name   string
		target string
		hdr    []string
		status int
		kept   bool // the header goes upstream: short is inside another item
	}{
		{name: "header value", target: genPath, hdr: []string{"X-Note", short}, status: 200},
		{name: "header name", target: genPath, hdr: []string{strings.ToUpper(short), "1"}, status: 200},
		{name: "cookie escaped twice", target: genPath, hdr: []string{"Cookie", "theme=dark; s=" + escapeTwice(short, true)}, status: 200},
		{name: "query value escaped", target: genPath + "?alt=sse&q=" + escapeAll(short, false), status: 200},
		{name: "path segment escaped twice", target: "/v1beta/models/" + escapeTwice(short, false) + ":generateContent", status: 400},
		{name: "inside a word", target: genPath, hdr: []string{"X-Note", "x" + short + "y"}, status: 200, kept: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			logs := &syncBuffer{}
			ps := recorderProxy(t, rec, logs, nil, proxy.WithTokens(short))
			resp, body := do(t, "POST", ps.URL+c.target, short, genBody, c.hdr...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			for _, r := range rec.all() {
				var dump strings.Builder
				r.Write(&dump)
				upstream := dump.String()
				if c.kept {
					if r.Header.Get(c.hdr[0]) != c.hdr[1] {
						t.Errorf("%s was dropped: %v", c.hdr[0], r.Header)
					}
					continue
				}
				if holdsTokenForm(upstream, short) {
					t.Errorf("the token went upstream:\n%s", upstream)
				}
			}
			if line := logs.String(); !c.kept && holdsTokenForm(line, short) {
				t.Errorf("the log holds the token:\n%s", line)
			}
		})
	}
}
