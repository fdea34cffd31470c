package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/codingtest"
	"github.com/api-jongler/jongler/internal/redact"
	"github.com/api-jongler/jongler/jonglertest"
)

// TestServeHostileUpstream: `apijongler serve` in front of an upstream that
// echoes the key it is sent where the redactor used not to look: in a
// body under a content coding net/http does not undo (a 2xx in deflate, a
// stream in br, a 400 in zstd), in a trailer it never declared, across the
// 1 MiB at which an error answer is cut; and in a coding nobody can undo.
// A client that holds only a token and decodes whatever it is sent never
// reads the key, nor half of it.
func TestServeHostileUpstream(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	const prefix = `{"error":{"message":"`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		coding := map[string]string{"ok": "deflate", "stream": "br", "fail": "zstd", "odd": "compress"}[modelOf(r.URL.Path)]
		if coding != "" {
			w.Header().Set("Content-Encoding", coding)
		}
		cw := codingtest.NewWriter(w, coding)
		defer cw.Close()
		switch modelOf(r.URL.Path) {
		case "ok", "odd":
			io.WriteString(cw, `{"echo":"`+key+`"}`)
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(cw, "data: {\"echo\":\""+key[:5])
			cw.Flush()
			http.NewResponseController(w).Flush()
			io.WriteString(cw, key[5:]+"\"}\n\n")
		case "fail":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(cw, `{"echo":"`+key+`"}`)
		case "trailer":
			io.WriteString(w, `{"a":1}`)
			http.NewResponseController(w).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Echo", key)
		case "unasked":
			// A 204, then the key, which no request asked for: net/http
			// writes the first bytes of it to the standard log package.
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			buf.WriteString("HTTP/1.1 204 No Content\r\n\r\n" + key + "\r\n")
			buf.Flush()
			time.Sleep(50 * time.Millisecond)
			conn.Close()
		case "long":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, prefix+strings.Repeat("x", redact.MaxBody-len(prefix)-len(key)/2)+key+`"}}`)
		}
	}))
	t.Cleanup(up.Close)
	e.aimAt(up.URL)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)

	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	send := func(model, query string) (*http.Response, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/v1beta/models/"+model+":generateContent"+query, strings.NewReader(serveBody))
		req.Header.Set("x-goog-api-key", serveToken)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		e.noSecrets(model+"'s answer", string(data))
		for name, vs := range resp.Trailer {
			e.noSecrets(model+"'s trailer "+name, strings.Join(vs, ","))
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding %q reached the client", model, ce)
		}
		return resp, string(data), err
	}
	for model, want := range map[string]string{"ok": "200 " + `{"echo":"apijongler"}`, "fail": "400 " + `{"echo":"apijongler"}`,
		"stream": "200 " + "data: {\"echo\":\"apijongler\"}\n\n"} {
		resp, body, err := send(model, "?alt=sse")
		if got := resp.Status[:4] + body; got != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", model, got, err, want)
		}
	}
	resp, _, _ := send("trailer", "")
	if got := resp.Trailer.Get("X-Echo"); got != "apijongler" {
		t.Errorf("trailer X-Echo = %q, want the placeholder", got)
	}
	resp, body, _ := send("odd", "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `content coding \"compress\"`) {
		t.Errorf("an answer in compress: %d %s; want 502 naming the coding", resp.StatusCode, body)
	}
	_, body, err := send("long", "")
	if err == nil || !strings.HasPrefix(body, prefix) {
		t.Errorf("the cut answer: %d bytes, %v; want its start, then the answer broken off", len(body), err)
	}
	if k := e.keys[0].Value; strings.Contains(body, k[:len(k)/2]) {
		t.Errorf("the cut answer ends with half the key: ...%q", body[len(body)-40:])
	}
	if resp, _, _ := send("unasked", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("unasked: %d, want the 204", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "Unsolicited response"); {
		if time.Now().After(deadline) {
			t.Fatalf("net/http never logged the unasked bytes:\n%s", p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop(t, syscall.SIGTERM)
	e.noSecrets("stderr", p.stderr.String())
}

// modelOf returns the model a generateContent path names.
func modelOf(path string) string {
	m := strings.TrimPrefix(path, "/v1beta/models/")
	m, _, _ = strings.Cut(m, ":")
	return m
}

// aimAt points the testgemini connector at url, another upstream than the
// jonglertest server.
func (e *serveEnv) aimAt(url string) {
	e.t.Helper()
	file := filepath.Join(e.dir, "connectors", "testgemini.json")
	data, err := os.ReadFile(file)
	if err != nil {
		e.t.Fatal(err)
	}
	from := e.srv.URL[strings.LastIndexByte(e.srv.URL, ':')+1:]
	to := url[strings.LastIndexByte(url, ':')+1:]
	c := strings.Replace(string(data), `"port": `+from+`,`, `"port": `+to+`,`, 1)
	if c == string(data) {
		e.t.Fatalf("no port %s in %s", from, data)
	}
	if err := os.WriteFile(file, []byte(c), 0o644); err != nil {
		e.t.Fatal(err)
	}
}
