package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/jonglertest"
)

// dialFrom opens a connection to serve at url from the local address
// from (a loopback address: 127.0.0.2 is another client than 127.0.0.1),
// closed when the test ends; it fails rather than hangs after 20 seconds.
func dialFrom(t *testing.T, from, url string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedAfterAnswer sends head on a new connection to serve at url and
// fails t unless an answer comes, with Connection: close, and the
// connection is closed after it. It returns the answer's status.
func closedAfterAnswer(t *testing.T, url, head string) int {
	t.Helper()
	conn := dialFrom(t, "127.0.0.1", url)
	io.WriteString(conn, head)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: no answer: %v", head, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("%q: %d without Connection: close", head, resp.StatusCode)
	}
	var ne net.Error
	if _, err := br.ReadByte(); errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("%q: the connection stays open after the answer", head)
	}
	return resp.StatusCode
}

// TestServeUnreadBodyClosed: requests that announce a body and never send
// it, to routes that answer without reading it (no token, /readyz,
// /status), get their answer at once and their connection closed, rather
// than holding it while net/http waits for the body.
func TestServeUnreadBodyClosed(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	for path, want := range map[string]int{
		"POST " + serveGen: http.StatusUnauthorized,
		"GET /readyz":      http.StatusOK,
		"GET /healthz":     http.StatusOK,
		"GET /status":      http.StatusUnauthorized,
		"GET /metrics":     http.StatusUnauthorized,
	} {
		if got := closedAfterAnswer(t, p.url, path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
	if got := closedAfterAnswer(t, p.url, "POST "+serveGen+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"); got != http.StatusUnauthorized {
		t.Errorf("a chunked body: %d, want 401", got)
	}
	p.stop(t, syscall.SIGTERM)
	if st := e.srv.Stats(); st.Requests != 0 {
		t.Errorf("%d requests went upstream", st.Requests)
	}
}

// TestServeConnsPerClient: one client address opening 50 connections that
// send nothing holds 4 (--max-conns-per-client 4); the others get 429 and
// are closed, and a client at another address is served meanwhile. Once
// the first client lets its connections go, it is served again.
func TestServeConnsPerClient(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken, "--max-conns-per-client", "4")
	held, refused := heldConns(t, p.url, 50)
	if len(held) != 4 || refused != 46 {
		t.Fatalf("%d connections held, %d refused; want 4 and 46", len(held), refused)
	}
	if code := callFrom(t, "127.0.0.2", p.url); code != 200 {
		t.Fatalf("another client: %d, want 200", code)
	}
	closeAll(held)
	waitServed(t, p.url)
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.stderr.String(), "refusing more") || strings.Count(p.stderr.String(), "refusing more") > 1 {
		t.Errorf("want one warning about the client refused:\n%s", p.stderr)
	}
}

// heldConns opens n connections from 127.0.0.1 to url, sending nothing,
// and returns those serve keeps open and how many it refused with 429 or
// closed at once.
func heldConns(t *testing.T, url string, n int) (held []net.Conn, refused int) {
	t.Helper()
	for range n {
		c := dialFrom(t, "127.0.0.1", url)
		// A refused connection is answered at once; a held one is not.
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		data, err := io.ReadAll(c)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout() && len(data) == 0:
			c.SetReadDeadline(time.Time{})
			held = append(held, c)
		case len(data) == 0 || bytes.HasPrefix(data, []byte("HTTP/1.1 429 ")):
			refused++
		default:
			t.Fatalf("a connection got %q, %v", data, err)
		}
	}
	return held, refused
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// callFrom sends a generate request with the token to serve at url from
// the local address from, and returns the status.
func callFrom(t *testing.T, from, url string) int {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+serveGen, strings.NewReader(serveBody))
	req.Header.Set("x-goog-api-key", serveToken)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitServed waits until a request from 127.0.0.1 gets 200, for up to 10
// seconds (serve counts a connection gone once it reads its end).
func waitServed(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code := 0
		if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nx-goog-api-key: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", serveGen, serveToken, len(serveBody), serveBody)
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				code = resp.StatusCode
			}
			conn.Close()
		}
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.1 is not served again after closing its connections: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeINISettings: the INI file's [serve] section sets serve's
// bounds, a flag overrides it, and it is not taken for a connector's
// keys; a bad setting stops serve with a message naming the setting and
// its line, never its value.
func TestServeINISettings(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{}, 1)
	ini := filepath.Join(e.dir, "keys.ini")
	keys, err := os.ReadFile(ini)
	if err != nil {
		t.Fatal(err)
	}
	write := func(serve string) {
		if err := os.WriteFile(ini, append(append([]byte(nil), keys...), "\n[serve]\n"+serve...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("max_conns_per_client = 2\nupstream_header_timeout = 90s\n")
	p := e.start(nil, "--listen", "127.0.0.1:0")
	held, refused := heldConns(t, p.url, 5)
	if len(held) != 2 || refused != 3 {
		t.Fatalf("[serve] max_conns_per_client = 2: %d held, %d refused", len(held), refused)
	}
	closeAll(held) // else serve waits for them at shutdown
	p.stop(t, syscall.SIGTERM)
	if strings.Contains(p.stderr.String(), "section=serve") {
		t.Errorf("[serve] taken for a connector's section:\n%s", p.stderr)
	}
	p = e.start(nil, "--listen", "127.0.0.1:0", "--max-conns-per-client", "3")
	held, refused = heldConns(t, p.url, 5)
	if len(held) != 3 || refused != 2 {
		t.Fatalf("--max-conns-per-client 3 over [serve]'s 2: %d held, %d refused", len(held), refused)
	}
	closeAll(held)
	p.stop(t, syscall.SIGTERM)

	const pasted = "AIzaSyPastedByMistake0123456789abcdefgh"
	for serve, want := range map[string]string{
		"write_timeout = " + pasted + "\n":             "keys.ini:5: [serve] write_timeout: want a duration",
		"max_conns_per_client = -1\n":                  "keys.ini:5: [serve] max_conns_per_client: want a whole number",
		pasted + " = 1\n":                              "keys.ini:5: [serve]: unknown setting a long name (not shown",
		"stream_idle = 1m\n":                           `keys.ini:5: [serve]: unknown setting "stream_idle"; known: max_conns, max_conns_per_client,`,
		"write_timeout = 1s\nwrite_timeout = 2s\n":     "keys.ini:5: [serve]: write_timeout is given more than once",
		"upstream_header_timeout = 1s\n[serve]\nx=1\n": `unknown setting "x"`,
	} {
		write(serve)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a serve that starts never ends
		cmd := exec.CommandContext(ctx, "apijongler", "serve", "--listen", "127.0.0.1:0")
		cmd.Env = e.env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(string(out), want) {
			t.Errorf("[serve] %q: %v\n%s\nwant exit 2 and %q", serve, err, out, want)
		}
		cancel()
		if strings.Contains(string(out), pasted) {
			t.Errorf("the message shows the value pasted:\n%s", out)
		}
	}
}

// TestServeUpstreamStall: an upstream that accepts and never answers
// holds the only key until --upstream-header-timeout; meanwhile /readyz
// says 503, every key in use; then the client gets 504, the key is free
// and /readyz says 200 again.
func TestServeUpstreamStall(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{Latency: time.Hour}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken, "--upstream-header-timeout", "2s")
	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		code, body, _ := call(t, "POST", p.url+serveGen, serveToken, serveBody)
		done <- answer{code, body}
	}()
	var ready string
	for ready == "" {
		select {
		case a := <-done:
			t.Fatalf("the request ended (%d %s) before /readyz said every key is in use", a.code, a.body)
		default:
		}
		if code, body, _ := call(t, "GET", p.url+"/readyz", serveToken, ""); code == http.StatusServiceUnavailable {
			ready = body
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(ready, `every key is in use, cooling down or refused (1 in use, 0 cooling down, 0 refused); one is back when a request in flight ends`) {
		t.Errorf("/readyz with the only key stalled: %s", ready)
	}
	a := <-done
	if a.code != http.StatusGatewayTimeout || !strings.Contains(a.body, "DEADLINE_EXCEEDED") {
		t.Fatalf("the stalled request: %d %s; want 504", a.code, a.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, _ := call(t, "GET", p.url+"/readyz", serveToken, "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the stall: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop(t, syscall.SIGTERM)
	if st := e.srv.Stats(); st.Canceled != 1 {
		t.Errorf("upstream %+v: want the stalled request cancelled", st.Counts)
	}
	if !strings.Contains(p.stderr.String(), `note="upstream header timeout"`) {
		t.Errorf("the access log does not say why:\n%s", p.stderr)
	}
	out, err := e.statusJSON()
	if err != nil || !strings.Contains(out, `"in_flight": 0`) {
		t.Fatalf("status after the stall: %v\n%s", err, out)
	}
}

// TestServeShutdownCutLogged: a stream still in flight when the grace
// period ends is cut, and the access log says the server cut it, not that
// the client went away.
func TestServeShutdownCutLogged(t *testing.T) {
	e := newServeEnv(t, jonglertest.Config{StreamChunks: 3, StreamGap: time.Minute}, 1)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--shutdown-timeout", "200ms")
	br := startStream(t, p.url)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.stop(t, syscall.SIGTERM)
	if _, err := io.ReadAll(br); err == nil {
		t.Error("the stream ended as if complete")
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, `note="cut at shutdown"`) || strings.Contains(logs, "client gone") {
		t.Errorf("the access log does not say the server cut the stream:\n%s", logs)
	}
	if !strings.Contains(logs, "requests still in flight at the end of the grace period were cut") {
		t.Errorf("no line says requests were cut:\n%s", logs)
	}
	out, err := e.statusJSON()
	if err != nil || !strings.Contains(out, `"in_flight": 0`) {
		t.Fatalf("status after shutdown: %v\n%s", err, out)
	}
}

// TestNotReady: why /readyz says no key can take a request, and when one
// is back.
func TestNotReady(t *testing.T) {
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	ks := jongler.KeyStates{
		Locked:   []string{"k1"},
		Lockdown: []string{"k2", "k3"},
		Error:    []string{"k4"},
		Keys: map[string]jongler.KeyDetail{
			"k2": {Until: now.Add(90 * time.Second)},
			"k3": {Until: now.Add(1500 * time.Millisecond)},
		},
	}
	why, back := notReady(ks, now)
	if want := "every key is in use, cooling down or refused (1 in use, 2 cooling down, 1 refused); one is back within 2s"; why != want || back != 1500*time.Millisecond {
		t.Errorf("got %q, %v\nwant %q, 1.5s", why, back, want)
	}
	ks.Lockdown = nil
	if why, back = notReady(ks, now); !strings.HasSuffix(why, "; one is back when a request in flight ends") || back != -1 {
		t.Errorf("every key in use or refused: %q, %v", why, back)
	}
	ks.Locked = nil
	if why, back = notReady(ks, now); why != "every key is cooling down or refused (0 cooling down, 1 refused)" || back != -1 {
		t.Errorf("every key refused: %q, %v", why, back)
	}
}
