package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/api-jongler/jongler/proxy"
)

// bodyProxy is a proxy (limitsProxy's) over an upstream that counts the
// requests it gets.
func bodyProxy(t *testing.T, opts ...proxy.Option) (addr string, upstream *atomic.Int32) {
	t.Helper()
	upstream = new(atomic.Int32)
	ps, _, _ := limitsProxy(t, func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		w.Write([]byte("{}"))
	}, opts...)
	return ps.Listener.Addr().String(), upstream
}

// post is the head of a request with the token, text added after Host.
func post(text string) string {
	return "POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\nX-Goog-Api-Key: " + token + "\r\n" + text
}

// dial opens a connection to addr that fails a test rather than hang.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// TestBodyDripTimesOut: a client that sends its body one byte at a time,
// each well within the per-read bound, but never the whole of it, gets
// 408 once the body's whole bound passes; nothing goes upstream and the
// connection is closed.
func TestBodyDripTimesOut(t *testing.T) {
	addr, upstream := bodyProxy(t, proxy.WithBodyTimeout(300*time.Millisecond))
	c := dial(t, addr)
	c.Write([]byte(post("Content-Length: 100000\r\n\r\n{")))
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || upstream.Load() != 0 {
		t.Fatalf("status %d, %d requests upstream; want 408 and none", resp.StatusCode, upstream.Load())
	}
	if rest, err := br.ReadString(0); err == nil || rest != "" {
		t.Errorf("the connection stays open after the 408: %q", rest)
	}
}

// TestBufferedBodiesBounded: while one request's body is held, another
// whose announced body would pass the bound of bodies held at once gets
// 503 with Retry-After in the upstream's shape, before its body is read;
// one that announces no length gets it as soon as it passes the bound;
// once the first is done, the same request passes.
func TestBufferedBodiesBounded(t *testing.T) {
	addr, upstream := bodyProxy(t, proxy.WithMaxBodyBytes(1000), proxy.WithMaxBufferedBytes(1500))
	body := `{"contents":"` + strings.Repeat("x", 786) + `"}` // 800 bytes
	head := post("Content-Length: 800\r\n\r\n")

	send := func(req string) (*http.Response, string) {
		t.Helper()
		c := dial(t, addr)
		c.Write([]byte(req))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return resp, b.String()
	}
	// A request whose body is held: its first bytes are sent, the rest
	// later. It is counted once the server has read its header, which the
	// client cannot see: until a probe gets 503, try again (a probe that
	// came first may have sent the held one away).
	var (
		held net.Conn
		resp *http.Response
		text string
	)
	for range 100 {
		held = dial(t, addr)
		held.Write([]byte(head + body[:10]))
		time.Sleep(20 * time.Millisecond)
		if resp, text = send(head + body); resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		held.Close()
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(text, `"status": "UNAVAILABLE"`) && !strings.Contains(text, `"UNAVAILABLE"`) {
		t.Fatalf("announced body over the bound: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), text)
	}
	before := upstream.Load()
	chunked := post("Transfer-Encoding: chunked\r\n\r\n") +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	if resp, text := send(chunked); resp.StatusCode != http.StatusServiceUnavailable || upstream.Load() != before {
		t.Fatalf("unannounced body over the bound: %d %s, %d more upstream", resp.StatusCode, text, upstream.Load()-before)
	}
	held.Write([]byte(body[10:]))
	r, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("the held request: %d", r.StatusCode)
	}
	if resp, text := send(head + body); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the first is done: %d %s", resp.StatusCode, text)
	}
}
