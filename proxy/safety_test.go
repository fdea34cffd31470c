package proxy_test

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/api-jongler/jongler/internal/redact"
)

// TestEchoedKeyRedactedInStream: an upstream that echoes the key it got in
// a successful answer, streamed, raw, percent-encoded and JSON-escaped,
// split across the chunks it flushes, gives the client the placeholder
// in every place; the events still arrive one by one.
func TestEchoedKeyRedactedInStream(t *testing.T) {
	ack := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		w.Header().Set("Content-Type", "text/event-stream")
		half := len(key) / 2
		json := strings.ReplaceAll(key, "-", `\u002d`)
		writeEvents(w, r, w, ack,
			"data: {\"n\":0}\n\n",
			"data: {\"raw\":\""+key[:half], key[half:]+"\"}\n\n",
			"data: {\"url\":\"?key="+url.QueryEscape(url.QueryEscape(key))+"\"}\n\n",
			"data: {\"json\":\""+json[:3], json[3:]+"\"}\n\n",
		)
	})
	br := streamThrough(t, recorderProxy(t, rec, io.Discard, nil))
	readEvents(t, br, ack, `{"n":0}`, `{"raw":"apijongler"}`, `{"url":"?key=apijongler"}`, `{"json":"apijongler"}`)
}

// writeEvents writes chunks to body, the answer's w or a writer of a
// content coding over it, each flushed to the client at once; after each
// that ends an event, it waits for the client to say on ack that the event
// came.
func writeEvents(w http.ResponseWriter, r *http.Request, body io.Writer, ack <-chan struct{}, chunks ...string) {
	for _, chunk := range chunks {
		io.WriteString(body, chunk)
		if f, ok := body.(interface{ Flush() error }); ok {
			f.Flush()
		}
		http.NewResponseController(w).Flush()
		if strings.HasSuffix(chunk, "\n\n") {
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			}
		}
	}
}

// readEvents reads from br one server-sent event for each of wants, which
// is its data, telling the upstream on ack after each that it came; then
// the rest. Nothing read may hold a secret.
func readEvents(t *testing.T, br *bufio.Reader, ack chan<- struct{}, wants ...string) {
	t.Helper()
	var all strings.Builder
	for i, want := range wants {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v after %q (held back by the proxy?)", i, err, all.String())
		}
		all.WriteString(line)
		if line != "data: "+want+"\n" {
			t.Errorf("event %d: %q, want %q", i, line, "data: "+want+"\n")
		}
		br.ReadString('\n')
		ack <- struct{}{}
	}
	rest, _ := io.ReadAll(br)
	noSecrets(t, "the answer", all.String()+string(rest))
}

// TestEchoedKeyRedactedInBody: a whole JSON answer with the key in it, its
// Content-Length announced, reaches the client with the placeholder and a
// length that fits.
func TestEchoedKeyRedactedInBody(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		body := `{"echo":"` + r.URL.Query().Get("key") + `"}`
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	resp, body := do(t, "POST", ps.URL+genPath+"?key="+token, "", genBody)
	if resp.StatusCode != 200 || body != `{"echo":"apijongler"}` {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	noSecrets(t, "the answer", body)
}

// TestRoutingOnEscapedPath: a connector is named by the path's first
// segment as the client sent it, escapes and all, and the rest of the path
// goes upstream byte for byte: "/gemini%2F..." and "/%67emini/..." name no
// connector (the root connector serves them whole), "/gemini/a%2Fb" sends
// "/a%2Fb".
func TestRoutingOnEscapedPath(t *testing.T) {
	rec := newRecorder(t, nil)
	ps := recorderProxy(t, rec, io.Discard, nil)
	for _, c := range []struct{ path, upstream string }{
		{"/gemini%2Fv1beta/models/" + model + ":generateContent", "/gemini%2Fv1beta/models/" + model + ":generateContent"},
		{"/gemini%2F..%2Fv1beta/models/x", "/gemini%2F..%2Fv1beta/models/x"},
		{"/%67emini/v1beta/models/x", "/%67emini/v1beta/models/x"},
		{"/gemini/v1beta/files%2Fabc%2f..%2Fd", "/v1beta/files%2Fabc%2f..%2Fd"},
		{"/gemini/v1beta/models/a%3Ab:generateContent", "/v1beta/models/a%3Ab:generateContent"},
		{"/gemini/%2e%2e/x", "/%2e%2e/x"},
		{"/gemini", "/"},
	} {
		resp, body := do(t, "POST", ps.URL+c.path, token, genBody)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", c.path, resp.StatusCode, body)
			continue
		}
		reqs := rec.all()
		got := reqs[len(reqs)-1].RequestURI
		if p, _, _ := strings.Cut(got, "?"); p != c.upstream {
			t.Errorf("%s went upstream as %s, want %s", c.path, got, c.upstream)
		}
	}
}

// TestEchoedKeyRedactedCompressed: a client asking for gzip must not get
// the key compressed, out of the redactor's sight: the upstream's answer
// comes to the proxy decompressed, key replaced.
func TestEchoedKeyRedactedCompressed(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		body := `{"echo":"` + r.Header.Get("X-Goog-Api-Key") + `"}`
		status := http.StatusOK
		if strings.Contains(r.URL.Path, "fail") {
			status = http.StatusBadRequest
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(status)
			zw := gzip.NewWriter(w)
			io.WriteString(zw, body)
			zw.Close()
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	for _, path := range []string{genPath, "/v1beta/models/fail:generateContent"} {
		resp, body := do(t, "POST", ps.URL+path, token, genBody, "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(zr)
			body = string(data)
		}
		if body != `{"echo":"apijongler"}` {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
		noSecrets(t, "the answer", body)
	}
}

// TestEchoedKeyInHeaderName: net/http writes a header's name in its
// canonical case, so a key the upstream echoes as a header's name comes
// back with its letters' case changed: it is found all the same.
func TestEchoedKeyInHeaderName(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		w.Header().Set("X-"+key, "1")
		w.Header().Set("X-Echo-"+strings.ToUpper(key)+"-End", "2")
		io.WriteString(w, "{}")
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	resp, _ := do(t, "POST", ps.URL+genPath, token, genBody)
	for name := range resp.Header {
		for _, k := range testKeys {
			if strings.Contains(strings.ToLower(name), strings.ToLower(k.Value)) {
				t.Errorf("header %q spells key %s", name, k.Label)
			}
		}
	}
	if resp.Header.Get("X-Apijongler") != "1" || resp.Header.Get("X-Echo-Apijongler-End") != "2" {
		t.Errorf("headers %v, want the key's place taken by the placeholder", resp.Header)
	}
}

// TestTokenNeverUpstream: a client that puts its token in other places
// than the credential slots (another API key header, a cookie, a query
// parameter) does not send it upstream.
func TestTokenNeverUpstream(t *testing.T) {
	rec := newRecorder(t, nil)
	ps := recorderProxy(t, rec, io.Discard, nil)
	resp, body := do(t, "POST", ps.URL+genPath+"?alt=sse&api_key="+token+"&q=x"+token+"x", token, genBody,
		"X-Api-Key", token, "Cookie", "session="+token, "X-Other", "kept")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	r := rec.all()[0]
	if strings.Contains(r.URL.RawQuery, token) || strings.Contains(fmt.Sprint(r.Header), token) {
		t.Errorf("the token went upstream: %s %v", r.URL.RawQuery, r.Header)
	}
	if r.Header.Get("X-Other") != "kept" || r.URL.Query().Get("alt") != "sse" {
		t.Errorf("more than the token was dropped: %s %v", r.URL.RawQuery, r.Header)
	}
}

// TestEchoedKeyRedactedUpgraded: over an upgraded connection (WebSocket)
// the key the upstream echoes is replaced by as many '*', so that the
// protocol's message lengths still hold.
func TestEchoedKeyRedactedUpgraded(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n') // the client speaks first
		brw.WriteString(`{"echo":"` + key[:5])
		brw.Flush()
		brw.WriteString(key[5:] + `","said":"` + strings.TrimSpace(line) + "\"}\n")
		brw.Flush()
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	req, _ := http.NewRequest("GET", ps.URL+"/ws?key="+token, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	conn := resp.Body.(io.ReadWriter)
	io.WriteString(conn, "hello\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	want := `{"echo":"` + strings.Repeat("*", len(testKeys[0].Value)) + `","said":"hello"}` + "\n"
	if line != want {
		t.Errorf("read %q, want %q", line, want)
	}
	noSecrets(t, "the upgraded connection", line)
}

// TestTokenInPathRefused: a token in the URL path (where a model's name
// goes) is refused with 400, never sent upstream nor recorded as a model.
func TestTokenInPathRefused(t *testing.T) {
	rec := newRecorder(t, nil)
	ps := recorderProxy(t, rec, io.Discard, nil)
	for _, path := range []string{
		"/v1beta/models/" + token + ":generateContent",
		"/v1beta/models/x" + url.PathEscape(token) + ":generateContent",
	} {
		resp, body := do(t, "POST", ps.URL+path, token, genBody)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "must not be in the URL path") {
			t.Errorf("%s: %d %s; want 400 naming the path", path, resp.StatusCode, body)
		}
		noSecrets(t, "the answer", body)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests went upstream; want none", n)
	}
}

// TestEchoedKeyRedactedInErrorBody: an error answer's body is redacted
// for the proxy's client as a successful one's is, JSON escapes included.
func TestEchoedKeyRedactedInErrorBody(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		esc := fmt.Sprintf(`\u%04x`, key[0]) + key[1:]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":400,"message":"bad key `+esc+`"}}`)
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	resp, body := do(t, "POST", ps.URL+genPath+"?key="+token, "", genBody)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "bad key apijongler") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	noSecrets(t, "the answer", body)
}

// TestUndeclaredTrailerRedacted: over HTTP/1.1 an upstream may send
// trailers it never declared; net/http fills resp.Trailer with them at the
// body's end, after the answer was redacted, and the proxy passed them on
// to its client key and all. On a 2xx and on a 400, the client's trailer
// holds the placeholder.
func TestUndeclaredTrailerRedacted(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		if strings.Contains(r.URL.Path, "fail") {
			w.WriteHeader(http.StatusBadRequest)
		}
		io.WriteString(w, `{"a":1}`)
		http.NewResponseController(w).Flush() // chunked: trailers may follow
		w.Header().Set(http.TrailerPrefix+"X-Echo", "key="+key)
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	c := decodingClient(t)
	for _, path := range []string{genPath, "/v1beta/models/fail:generateContent"} {
		resp := sendDecoding(t, c, ps.URL+path)
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != `{"a":1}` {
			t.Fatalf("%s: %q, %v", path, body, err)
		}
		if got := resp.Trailer.Get("X-Echo"); got != "key=apijongler" {
			t.Errorf("%s: trailer X-Echo = %q, want key=apijongler", path, got)
		}
		for name, vs := range resp.Trailer {
			noSecrets(t, "trailer "+name, strings.Join(vs, ","))
		}
	}
}

// TestCutErrorAnswerHoldsNoHalfKey: an error answer longer than the
// transport reads into memory is cut there; a key straddling the cut left
// its first half at the end of what the client got. The client now gets
// the body up to the key's start, then the answer breaks off.
func TestCutErrorAnswerHoldsNoHalfKey(t *testing.T) {
	const prefix = `{"error":{"message":"`
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, prefix+strings.Repeat("x", redact.MaxBody-len(prefix)-len(key)/2)+key+strings.Repeat("x", 100)+`"}}`)
	})
	ps := recorderProxy(t, rec, io.Discard, nil)
	resp := sendDecoding(t, decodingClient(t), ps.URL+genPath)
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("read %d bytes and no error: want the answer broken off where it was cut", len(body))
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(string(body), prefix+"xxxx") {
		t.Fatalf("%d %.40q", resp.StatusCode, body)
	}
	for _, k := range testKeys {
		if strings.Contains(string(body), k.Value[:len(k.Value)/2]) {
			t.Errorf("the answer ends with the first half of a key: %q", body[len(body)-40:])
			break
		}
	}
}
