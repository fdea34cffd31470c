package serving

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClientOf: connections count against an IPv4 address, or an IPv6
// /64, whatever the port, zone or IPv4-mapped form.
func TestClientOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5555":                 "192.0.2.7/32",
		"[::ffff:192.0.2.7]:80":          "192.0.2.7/32",
		"[2001:db8:1:2:aaaa::1]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9]:1":       "2001:db8:1:2::/64",
		"[fe80::1%eth0]:8080":            "fe80::/64",
		"[2001:db8:1:3::1]:443":          "2001:db8:1:3::/64",
		"[::1]:1":                        "::/64",
		"127.0.0.1:1":                    "127.0.0.1/32",
		"127.0.0.2:1":                    "127.0.0.2/32",
		"[2001:db8::]:1":                 "2001:db8::/64",
		"[2001:db8:0:0:0:0:0:ffff]:9999": "2001:db8::/64",
	} {
		ap := netip.MustParseAddrPort(addr)
		if got := clientOf(net.TCPAddrFromAddrPort(ap)); got.String() != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

// TestTooManyAnswer: the answer of a connection over its client's bound
// is a well-formed HTTP answer.
func TestTooManyAnswer(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tooMany)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || !resp.Close ||
		strconv.Itoa(len(body)) != resp.Header.Get("Content-Length") || !strings.HasSuffix(string(body), "\n") {
		t.Fatalf("%d %q %v", resp.StatusCode, body, err)
	}
}

// TestServerBoundsEachClient: a client holding its bound of connections
// gets 429 for one more; another client is served; a connection closed
// makes room again.
func TestServerBoundsEachClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := DefaultLimits()
	l.ConnsPerClient = 2
	serveOK(t, ln, l)
	addr := ln.Addr().String()
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn) int {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	a1, a2 := dial("127.0.0.1"), dial("127.0.0.1")
	if get(a1) != 200 || get(a2) != 200 {
		t.Fatal("the first two connections are not served")
	}
	if code := get(dial("127.0.0.1")); code != http.StatusTooManyRequests && code != 0 {
		t.Fatalf("a third connection: %d, want 429 or closed", code)
	}
	if code := get(dial("127.0.0.2")); code != 200 {
		t.Fatalf("another client: %d", code)
	}
	a1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for get(dial("127.0.0.1")) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("no room once a connection closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServerBoundsConnections: past Limits.Conns, a new connection is not
// taken until one closes (it waits in the kernel's queue), so that many
// clients cannot take every file descriptor; then it is served.
func TestServerBoundsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := DefaultLimits()
	l.Conns, l.ConnsPerClient = 2, 0
	s := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), l, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	}()
	get := func(c net.Conn, wait time.Duration) error {
		c.SetDeadline(time.Now().Add(wait))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	if get(held[0], 10*time.Second) != nil || get(held[1], 10*time.Second) != nil {
		t.Fatal("the first two connections are not served")
	}
	if err := get(held[2], 300*time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two were open; want it to wait")
	}
	held[2].Close() // given up on: the server finds it closed once it takes it
	held[0].Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := get(c, 10*time.Second); err != nil {
		t.Fatalf("once a connection closed, the next one is not served: %v", err)
	}
}
