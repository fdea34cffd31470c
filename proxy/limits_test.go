package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/transporttest"
	"github.com/api-jongler/jongler/proxy"
)

// limitsProxy is a proxy with the token to an upstream answering with
// handle, for the Gemini connector with one key; its access log and the
// transport's go to the buffer returned.
func limitsProxy(t *testing.T, handle http.HandlerFunc, opts ...proxy.Option) (*httptest.Server, *jongler.Transport, *syncBuffer) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that net/http sees the proxy go away
		handle(w, r)
	}))
	t.Cleanup(up.Close)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, err := jongler.NewTransport(gemini, jongler.WithKeys(jKeys(testKeys[:1])...), jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(up.URL), jongler.WithNoKeyAnswer(), jongler.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	h, err := proxy.New([]*jongler.Transport{tr}, append([]proxy.Option{proxy.WithTokens(token), proxy.WithAccessLog(logger)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(h)
	t.Cleanup(ps.Close)
	return ps, tr, logs
}

// rawRequest sends text on a new connection to addr and reads the answer's
// head; the connection fails rather than hangs after 10 seconds.
func rawRequest(t *testing.T, addr, text string) (*http.Response, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, text); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return resp, conn
}

// TestUnreadBodyClosesConnection: a request announcing a body it never
// sends, answered without its body being read (no token, a token in the
// path), gets its answer at once, and the connection is closed: net/http
// does not wait for the body.
func TestUnreadBodyClosesConnection(t *testing.T) {
	var upstream atomic.Int32
	ps, _, _ := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) { upstream.Add(1) })
	addr := ps.Listener.Addr().String()
	for _, c := range []struct{ name, head string }{
		{"no token", "POST " + genPath + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"},
		{"no token, chunked", "POST " + genPath + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"a wrong token, a body half sent", "POST " + genPath + " HTTP/1.1\r\nHost: x\r\nx-goog-api-key: wrong-token-5e0a\r\nContent-Length: 100\r\n\r\n{\"contents\""},
		{"the token in the path", "POST /v1beta/models/" + token + ":generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: " + token + "\r\nContent-Length: 100\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, conn := rawRequest(t, addr, c.head)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || !resp.Close {
				t.Fatalf("status %d, close %v: want an error and Connection: close", resp.StatusCode, resp.Close)
			}
			// The server closes its end: a read ends at once, not at the
			// deadline.
			var ne net.Error
			if _, err := conn.Read(make([]byte, 1)); errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection stays open")
			}
		})
	}
	if n := upstream.Load(); n != 0 {
		t.Fatalf("%d requests went upstream", n)
	}
}

// TestUpstreamHeaderTimeout: an upstream that accepts a request and never
// answers gets it given up on: 504 in Google's shape, the upstream sees
// the request cancelled, and the key serves the next request.
func TestUpstreamHeaderTimeout(t *testing.T) {
	var answer = make(chan bool, 1)
	answer <- false
	cancelled := make(chan struct{}, 1)
	ps, tr, logs := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		ok := <-answer
		answer <- true
		if ok {
			fmt.Fprint(w, `{"candidates":[]}`)
			return
		}
		<-r.Context().Done()
		cancelled <- struct{}{}
	}, proxy.WithUpstreamHeaderTimeout(50*time.Millisecond))
	resp, body := do(t, "POST", ps.URL+genPath, token, genBody)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, `"DEADLINE_EXCEEDED"`) {
		t.Fatalf("status %d %s: want 504 in Google's shape", resp.StatusCode, body)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
	transporttest.WaitNoneInFlight(t, tr)
	if resp, body := do(t, "POST", ps.URL+genPath, token, genBody); resp.StatusCode != 200 {
		t.Fatalf("the next request: %d %s", resp.StatusCode, body)
	}
	ps.Close()
	if !strings.Contains(logs.String(), `"note":"upstream header timeout"`) {
		t.Errorf("the access log does not say why:\n%s", logs)
	}
	noSecrets(t, "the logs", logs.String())
}

// TestStreamStalledIsCut: a stream whose upstream stops sending is cut
// after the stream idle timeout: the client's read fails, the upstream
// request is cancelled, and the key is free again.
func TestStreamStalledIsCut(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	ps, tr, logs := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {}\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		cancelled <- struct{}{}
	}, proxy.WithStreamIdleTimeout(50*time.Millisecond))
	br := streamThrough(t, ps)
	if line, err := br.ReadString('\n'); err != nil || line != "data: {}\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	if _, err := io.ReadAll(br); err == nil {
		t.Fatal("the stalled stream ended as if complete")
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
	transporttest.WaitNoneInFlight(t, tr)
	ps.Close()
	if !strings.Contains(logs.String(), `"note":"upstream stalled"`) {
		t.Errorf("the access log does not say why:\n%s", logs)
	}
}

// TestClientNotReadingFreesKey: a client that asks for a stream and never
// reads it does not hold the key for ever: once a write has waited the
// write timeout, the answer is cut and the key is free.
func TestClientNotReadingFreesKey(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	ps, tr, logs := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := "data: " + strings.Repeat("x", 32<<10) + "\n\n"
		rc := http.NewResponseController(w)
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, chunk); err != nil {
				break
			}
			rc.Flush()
		}
		cancelled <- struct{}{}
	}, proxy.WithWriteTimeout(100*time.Millisecond), proxy.WithStreamIdleTimeout(0))
	conn, err := net.Dial("tcp", ps.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1beta/models/%s:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: x\r\nx-goog-api-key: %s\r\nContent-Length: %d\r\n\r\n%s", model, token, len(genBody), genBody)
	select {
	case <-cancelled:
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream request is still served to a client that does not read")
	}
	transporttest.WaitNoneInFlight(t, tr)
	ps.Close()
	if !strings.Contains(logs.String(), `"note":"client not reading"`) {
		t.Errorf("the access log does not say why:\n%s", logs)
	}
}

// TestShutdownCutNoted: a request the server cuts at shutdown (its base
// context cancelled with http.ErrServerClosed) is logged as cut at
// shutdown, not as a client gone.
func TestShutdownCutNoted(t *testing.T) {
	h, logs, tr := shutdownHandler(t)
	base, cut := context.WithCancelCause(context.Background())
	defer cut(nil)
	ps := httptest.NewUnstartedServer(h)
	ps.Config.BaseContext = func(net.Listener) context.Context { return base }
	ps.Start()
	defer ps.Close()
	br := streamThrough(t, ps)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cut(http.ErrServerClosed)
	ps.CloseClientConnections()
	io.ReadAll(br)
	transporttest.WaitNoneInFlight(t, tr)
	ps.Close()
	if l := logs.String(); !strings.Contains(l, `"note":"cut at shutdown"`) || strings.Contains(l, "client gone") {
		t.Errorf("the access log does not say the server cut the request:\n%s", l)
	}
}

// shutdownHandler is a proxy to an upstream that streams one event, then
// waits for the request to end.
func shutdownHandler(t *testing.T) (http.Handler, *syncBuffer, *jongler.Transport) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {}\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(up.Close)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	tr, err := jongler.NewTransport(gemini, jongler.WithKeys(jKeys(testKeys[:1])...), jongler.WithStateDir(t.TempDir()), jongler.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	h, err := proxy.New([]*jongler.Transport{tr}, proxy.WithTokens(token), proxy.WithAccessLog(logger))
	if err != nil {
		t.Fatal(err)
	}
	return h, logs, tr
}

// TestUpgradeOutlivesWriteTimeout: an upgraded connection (WebSocket) has
// no write deadline: a session quiet for longer than the write timeout
// still carries what is said after.
func TestUpgradeOutlivesWriteTimeout(t *testing.T) {
	ps, _, _ := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		brw.WriteString("said " + line)
		brw.Flush()
	}, proxy.WithWriteTimeout(20*time.Millisecond))
	req, _ := http.NewRequest("GET", ps.URL+"/ws", nil)
	req.Header.Set("x-goog-api-key", token)
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
	time.Sleep(100 * time.Millisecond) // past the write deadline the answer's head had
	conn := resp.Body.(io.ReadWriter)
	io.WriteString(conn, "hello\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "said hello\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// TestUpstreamHeaderTimeoutAfterBody: the wait for the upstream's answer
// begins once the client has sent its body: a body sent slowly, for longer
// than the upstream header timeout, is not cut.
func TestUpstreamHeaderTimeoutAfterBody(t *testing.T) {
	ps, _, _ := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"candidates":[]}`)
	}, proxy.WithUpstreamHeaderTimeout(100*time.Millisecond))
	conn, err := net.Dial("tcp", ps.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nx-goog-api-key: %s\r\nContent-Length: %d\r\n\r\n", genPath, token, len(genBody))
	for i := range genBody { // about 1.2 s
		time.Sleep(20 * time.Millisecond)
		io.WriteString(conn, genBody[i:i+1])
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a body sent slowly: %d, want 200", resp.StatusCode)
	}
}
