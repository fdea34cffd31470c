package main

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	socks5 "github.com/armon/go-socks5"
)

// TestServeRoutesEgress: serve's routes send a target's requests out
// through its connector's egress section (a SOCKS5 proxy with a password,
// here), the same transports as the per-connector paths: the upstream is
// reached through the proxy only for that connector, /status names the
// proxy by host and port, and its password is nowhere in what serve says.
func TestServeRoutesEgress(t *testing.T) {
	const password = "socks-pass-0123456789"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var dialed atomic.Int32
	srv, err := socks5.New(&socks5.Config{
		Credentials: socks5.StaticCredentials{"egress": password},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { l.Close() })
	proxyAddr := l.Addr().String()

	e := newRoutesEnv(t, "fast = simcerebras/"+rtCerebrasModel+", simgemini/"+rtGeminiModel+
		"\n\n[simcerebras:egress]\n* = socks5://egress:"+password+"@"+proxyAddr)
	p := e.start(nil, "--listen", "127.0.0.1:0", "--token", serveToken)
	for range 3 {
		code, body, hdr := call(t, "POST", p.url+"/v1/chat/completions", serveToken, `{"model":"fast","messages":[{"role":"user","content":"Hi"}]}`)
		if code != 200 || hdr.Get("X-Apijongler-Target") != e.cerebrasT {
			t.Fatalf("%d %q %s", code, hdr.Get("X-Apijongler-Target"), body)
		}
	}
	if n := dialed.Load(); n < 1 {
		t.Fatalf("the SOCKS5 proxy made %d connections: the route's target did not go out through it", n)
	}
	before := dialed.Load()
	code, body, hdr := call(t, "POST", p.url+"/v1/chat/completions", serveToken, `{"model":"`+e.geminiT+`","messages":[{"role":"user","content":"Hi"}]}`)
	if code != 200 || hdr.Get("X-Apijongler-Target") != e.geminiT || dialed.Load() != before {
		t.Fatalf("a connector without egress: %d %q, %d new proxy connections %s", code, hdr.Get("X-Apijongler-Target"), dialed.Load()-before, body)
	}
	code, status, _ := call(t, "GET", p.url+"/status", serveToken, "")
	if code != 200 || !strings.Contains(status, `"egress": "socks5://`+proxyAddr+`"`) {
		t.Fatalf("/status does not name the key's proxy: %d\n%s", code, status)
	}
	p.stop(t, os.Interrupt)
	for _, text := range []string{status, p.stderr.String(), p.stdout.String()} {
		if strings.Contains(text, password) {
			t.Errorf("the proxy's password is in serve's output:\n%s", text)
		}
	}
}
