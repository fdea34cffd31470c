package jongler_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	socks5 "github.com/armon/go-socks5"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/transporttest"
)

// egressProxy is a real proxy on the loopback, SOCKS5 or HTTP CONNECT,
// that dials the upstream from a loopback address of its own and records
// the local address of each connection it makes, so that the upstream's
// view of a request's source tells which proxy it crossed.
type egressProxy struct {
	addr string
	from net.IP // the local address it dials from

	mu    sync.Mutex
	out   map[string]bool // local addresses of its connections to the upstream
	conns map[net.Conn]bool
	l     net.Listener
	wg    sync.WaitGroup
}

// dial dials addr from the proxy's own address and records the connection.
func (p *egressProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: p.from}}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.out[c.LocalAddr().String()] = true
	p.conns[c] = true
	p.mu.Unlock()
	return c, nil
}

// crossed reports whether the upstream connection from src is one of the
// proxy's.
func (p *egressProxy) crossed(src string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out[src]
}

// kill stops the proxy as a killed process would: no more connections,
// and every open one cut, both sides.
func (p *egressProxy) kill() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// serve accepts connections on l until it is closed, each handled by h.
func (p *egressProxy) serve(t *testing.T, l net.Listener, h func(net.Conn)) {
	p.l, p.addr = l, l.Addr().String()
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			p.wg.Go(func() { h(c); c.Close() })
		}
	})
	t.Cleanup(p.kill)
}

func newEgressProxy(t *testing.T, from net.IP) *egressProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &egressProxy{from: from, out: map[string]bool{}, conns: map[net.Conn]bool{}}
	p.l = l
	return p
}

// startSOCKSEgress runs a SOCKS5 proxy dialing from from, asking for user
// and password when user is not "".
func startSOCKSEgress(t *testing.T, from net.IP, user, password string) *egressProxy {
	t.Helper()
	p := newEgressProxy(t, from)
	cfg := &socks5.Config{Dial: p.dial, Logger: log.New(io.Discard, "", 0)}
	if user != "" {
		cfg.Credentials = socks5.StaticCredentials{user: password}
	}
	srv, err := socks5.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(t, p.l, func(c net.Conn) { srv.ServeConn(c) })
	return p
}

// startConnectEgress runs an HTTP proxy that tunnels with CONNECT only,
// dialing from from, asking for Basic user and password when user is not
// "".
func startConnectEgress(t *testing.T, from net.IP, user, password string) *egressProxy {
	t.Helper()
	p := newEgressProxy(t, from)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	p.serve(t, p.l, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Method != http.MethodConnect {
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
			return
		}
		if user != "" && req.Header.Get("Proxy-Authorization") != want {
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
			return
		}
		up, err := p.dial(req.Context(), "tcp", req.Host)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer up.Close()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		done := make(chan struct{})
		go func() { io.Copy(up, br); up.Close(); close(done) }()
		io.Copy(c, up)
		c.Close()
		<-done
	})
	return p
}

// egressUpstream is an HTTPS upstream recording, for each request, its key
// and the address it came from (the connection's source, not anything the
// transport says).
type egressUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []egressSeen
}

type egressSeen struct{ key, src string }

func newEgressUpstream(t *testing.T) *egressUpstream {
	u := &egressUpstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, egressSeen{r.Header.Get("x-goog-api-key"), r.RemoteAddr})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"out"}],"role":"model"}}]}`)
	}))
	u.Config.ErrorLog = log.New(io.Discard, "", 0) // connections cut by a killed proxy
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

func (u *egressUpstream) requests() []egressSeen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]egressSeen(nil), u.seen...)
}

// base is a transport that trusts the upstream's certificate.
func (u *egressUpstream) base() *http.Transport {
	return u.Client().Transport.(*http.Transport).Clone()
}

// egressPost sends n requests through tr from workers goroutines and
// returns the failures.
func egressPost(t *testing.T, tr *jongler.Transport, base string, n, workers int) []string {
	t.Helper()
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	jobs := make(chan int)
	for range workers {
		wg.Go(func() {
			for range jobs {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1beta/models/gemini-2.5-flash:generateContent",
					strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
				resp, err := tr.RoundTrip(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return failures
}

// writeEgressINI writes an INI file of keys with an egress section.
func writeEgressINI(t *testing.T, keys map[string]string, egress string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[generativelanguage.googleapis.com]\n")
	for _, k := range keyList(keys) {
		fmt.Fprintf(&b, "%s = %s\n", k.Name, k.Value)
	}
	b.WriteString("\n[generativelanguage.googleapis.com:egress]\n" + egress)
	path := filepath.Join(t.TempDir(), "keys.ini")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEgressEachKeyThroughItsProxy: keys with a SOCKS5 proxy, a SOCKS5
// proxy resolving names with a password, an HTTP CONNECT proxy with a
// password, and none (direct), given in the INI file's egress section:
// the upstream sees each key's requests come only from its own proxy's
// connections, and never one connection carry two keys.
func TestEgressEachKeyThroughItsProxy(t *testing.T) {
	up := newEgressUpstream(t)
	plain := startSOCKSEgress(t, net.IPv4(127, 0, 0, 11), "", "")
	hidden := startSOCKSEgress(t, net.IPv4(127, 0, 0, 12), "alice", "socks-pass-91xq")
	tunnel := startConnectEgress(t, net.IPv4(127, 0, 0, 13), "bob", "connect-pass-37zk")
	keys := map[string]string{"k-plain": xpSecret(t, "plain"), "k-hidden": xpSecret(t, "hidden"), "k-tunnel": xpSecret(t, "tunnel"), "k-direct": xpSecret(t, "direct")}
	ini := writeEgressINI(t, keys, fmt.Sprintf("k-plain = socks5://%s\nk-hidden = socks5h://alice:socks-pass-91xq@%s\nk-tunnel = http://bob:connect-pass-37zk@%s\n* = direct\n",
		plain.addr, hidden.addr, tunnel.addr))
	tr, logs := egressINITransport(t, up, ini)
	if f := egressPost(t, tr, up.URL, 60, 6); len(f) > 0 {
		t.Fatalf("%d requests failed: %q", len(f), f)
	}
	via := map[string]*egressProxy{keys["k-plain"]: plain, keys["k-hidden"]: hidden, keys["k-tunnel"]: tunnel}
	perKey := map[string]int{}
	connKey := map[string]string{}
	for _, s := range up.requests() {
		perKey[s.key]++
		if prev, ok := connKey[s.src]; ok && prev != s.key {
			t.Errorf("connection %s carried two keys", s.src)
		}
		connKey[s.src] = s.key
		host, _, _ := net.SplitHostPort(s.src)
		if p := via[s.key]; p != nil {
			if !p.crossed(s.src) {
				t.Errorf("a request of a key with the proxy dialing from %s came from %s, not one of that proxy's connections", p.from, s.src)
			}
		} else if host != "127.0.0.1" {
			t.Errorf("a request of the direct key came from %s; want 127.0.0.1", s.src)
		}
	}
	for name, v := range keys {
		if perKey[v] == 0 {
			t.Errorf("key %s served no request", name)
		}
	}
	ks, err := tr.KeyStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k-plain": "socks5://" + plain.addr, "k-hidden": "socks5h://" + hidden.addr, "k-tunnel": "http://" + tunnel.addr, "k-direct": "direct"}
	for name, w := range want {
		if d := ks.Keys[name]; d.Egress != w || d.EgressDown {
			t.Errorf("key %s: egress %q, down %v; want %q, up", name, d.Egress, d.EgressDown, w)
		}
	}
	checkNoProxySecrets(t, logs.String()+fmt.Sprintf("%+v", ks), "socks-pass-91xq", "connect-pass-37zk")
}

// egressINITransport returns a transport for the keys and egress section
// of the INI file ini, sending to up, resends at once, and its log, closed
// when the test ends.
func egressINITransport(t *testing.T, up *egressUpstream, ini string) (*jongler.Transport, *transporttest.Buffer) {
	t.Helper()
	logs := &transporttest.Buffer{}
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithConfigFile(ini),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(up.URL),
		jongler.WithBaseTransport(up.base()),
		jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return time.Millisecond }),
		jongler.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, logs
}

// checkNoProxySecrets fails if text shows a proxy password.
func checkNoProxySecrets(t *testing.T, text string, passwords ...string) {
	t.Helper()
	for _, pw := range passwords {
		if strings.Contains(text, pw) {
			t.Errorf("a proxy password shows: %q", text)
		}
	}
}

// TestEgressProxyKilledMidRun: two of four keys' proxies are killed
// between two requests of a run; the rest of the run goes to the other
// keys without a failed request, the killed proxies' keys rest, shown as
// such, and the log names each proxy by host and port, never its password.
func TestEgressProxyKilledMidRun(t *testing.T) {
	up := newEgressUpstream(t)
	const pw = "kill-pass-58wd"
	proxies := map[string]*egressProxy{}
	keys := map[string]string{}
	var lines strings.Builder
	for i, name := range []string{"a", "b", "c", "d"} {
		p := startSOCKSEgress(t, net.IPv4(127, 0, 0, byte(21+i)), "u"+name, pw)
		proxies[name], keys[name] = p, xpSecret(t, name)
		fmt.Fprintf(&lines, "%s = socks5://u%s:%s@%s\n", name, name, pw, p.addr)
	}
	ini := writeEgressINI(t, keys, lines.String())
	tr, logs := egressINITransport(t, up, ini)
	if f := egressPost(t, tr, up.URL, 40, 4); len(f) > 0 {
		t.Fatalf("before the kill, %d requests failed: %q", len(f), f)
	}
	proxies["a"].kill()
	proxies["b"].kill()
	before := len(up.requests())
	if f := egressPost(t, tr, up.URL, 60, 4); len(f) > 0 {
		t.Fatalf("after the kill, %d requests failed: %q", len(f), f)
	}
	after := up.requests()[before:]
	if len(after) != 60 {
		t.Errorf("the upstream got %d requests after the kill; want 60", len(after))
	}
	for _, s := range after {
		if s.key == keys["a"] || s.key == keys["b"] {
			t.Errorf("a request reached the upstream with a key whose proxy was killed, from %s", s.src)
		}
	}
	ks, err := tr.KeyStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		d := ks.Keys[name]
		if d.State != jongler.StateLockdown || !d.EgressDown || !strings.Contains(d.Reason, proxies[name].addr) {
			t.Errorf("key %s after its proxy was killed: %s, down %v, reason %q; want LOCKDOWN, down, the proxy named", name, d.State, d.EgressDown, d.Reason)
		}
	}
	for _, name := range []string{"c", "d"} {
		if d := ks.Keys[name]; d.EgressDown || d.State == jongler.StateLockdown {
			t.Errorf("key %s, its proxy alive: %s, down %v", name, d.State, d.EgressDown)
		}
	}
	text := logs.String()
	for _, name := range []string{"a", "b"} {
		if !strings.Contains(text, "proxy=socks5://"+proxies[name].addr) {
			t.Errorf("the log does not name the killed proxy %s:\n%s", proxies[name].addr, text)
		}
	}
	checkNoProxySecrets(t, text+fmt.Sprintf("%+v", ks), pw)
}

// TestEgressAllProxiesDown: when every key's proxy refuses, the request
// fails with an error naming a proxy by host and port, without its
// password or a key, and the next request waits for no cooldown beyond
// the bound.
func TestEgressAllProxiesDown(t *testing.T) {
	up := newEgressUpstream(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	secret := xpSecret(t, "k")
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(jongler.Key{Name: "k", Value: secret}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(up.URL),
		jongler.WithBaseTransport(up.base()),
		jongler.WithEgress(func(jongler.Key) string { return "http://carol:down-pass-66tu@" + dead }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	f := egressPost(t, tr, up.URL, 1, 1)
	if len(f) != 1 || !strings.Contains(f[0], "egress http://"+dead) {
		t.Fatalf("failures %q; want one naming the proxy http://%s", f, dead)
	}
	checkNoProxySecrets(t, f[0], "down-pass-66tu", "carol")
	if strings.Contains(f[0], secret) {
		t.Error("the error shows the key")
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream got %d requests; want none", n)
	}
}

// TestEgressOptionErrors: a bad way out fails NewTransport with a one-line
// error naming the key, never the password.
func TestEgressOptionErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"ftp://u:hidden-pass-1@host:21", `scheme "ftp"`},
		{"socks5://u:hidden-pass-1@host", "without host:port"},
		{"http://u:hidden-pass-1@[::1", "not a URL"},
		{"socks5://u:hidden-pass-1@h:1/path", "path or query"},
		{" , ", "no way out"},
	} {
		_, err := jongler.NewTransport("generativelanguage.googleapis.com",
			jongler.WithKeys(jongler.Key{Name: "k1", Value: xpSecret(t, "k1")}),
			jongler.WithStore(jongler.NewMemoryStore()),
			jongler.WithEgress(func(jongler.Key) string { return tc.spec }),
		)
		if err == nil {
			t.Errorf("%q: NewTransport succeeded", tc.spec)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, `key "k1"`) || strings.Contains(msg, "hidden-pass-1") || strings.Contains(msg, "\n") {
			t.Errorf("%q: error %q; want one line naming key k1 and saying %q, no password", tc.spec, msg, tc.want)
		}
	}
	_, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(jongler.Key{Name: "k1", Value: xpSecret(t, "k1")}),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseTransport(torPlainRoundTripper(nil)),
		jongler.WithEgress(func(jongler.Key) string { return "direct" }),
	)
	if err == nil || !strings.Contains(err.Error(), "*http.Transport") {
		t.Errorf("egress over a base that is no *http.Transport: %v; want an error saying so", err)
	}
}

// TestTorEachKeyItsCircuit: with Tor, each key's requests give Tor a SOCKS
// user name of their own, the same for every request of the key, made
// from its name and never its value (Tor's IsolateSOCKSAuth then gives
// each key its own circuit).
func TestTorEachKeyItsCircuit(t *testing.T) {
	up, p, base := torSetup(t)
	keys := map[string]string{"first": xpSecret(t, "first"), "second": xpSecret(t, "second")}
	users := &socksUsers{}
	srv, err := socks5.New(&socks5.Config{Resolver: p, Dial: p.dial, Credentials: users, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer l.Close()
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(keyList(keys)...),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(base),
		jongler.WithTor(l.Addr().String()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for range 6 {
		if code, _, err := torPost(t, tr, base); err != nil || code != http.StatusOK {
			t.Fatalf("through Tor: %d %v", code, err)
		}
		tr.CloseIdleConnections() // a new connection, so a new SOCKS handshake, each time
	}
	got, _ := up.seen()
	byKey := map[string]map[string]bool{}
	names := users.list()
	if len(names) != len(got) {
		t.Fatalf("%d SOCKS handshakes for %d requests", len(names), len(got))
	}
	for i, v := range got {
		if byKey[v] == nil {
			byKey[v] = map[string]bool{}
		}
		byKey[v][names[i]] = true
	}
	if len(byKey) != 2 {
		t.Fatalf("requests came with %d keys; want both", len(byKey))
	}
	seen := map[string]bool{}
	for v, us := range byKey {
		if len(us) != 1 {
			t.Errorf("a key's requests gave %d SOCKS user names; want one", len(us))
		}
		for u := range us {
			if seen[u] {
				t.Error("two keys gave Tor the same SOCKS user name")
			}
			seen[u] = true
			if strings.Contains(u, v) || strings.Contains(v, u) {
				t.Error("a SOCKS user name is made of the key's value")
			}
		}
	}
	ks, err := tr.KeyStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := ks.Keys["first"]; d.Egress != "socks5h://"+l.Addr().String() {
		t.Errorf("key first's egress is %q; want Tor's address, no user name", d.Egress)
	}
}

// socksUsers accepts every user and records, in order, the names given.
type socksUsers struct {
	mu    sync.Mutex
	names []string
}

func (s *socksUsers) Valid(user, _ string) bool {
	s.mu.Lock()
	s.names = append(s.names, user)
	s.mu.Unlock()
	return true
}

func (s *socksUsers) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.names...)
}

// TestEgressConnectRefused: an HTTP proxy that refuses CONNECT (407, a
// wrong password) rests the key sent through it; its requests go to the
// key whose proxy lets them through, and none fails.
func TestEgressConnectRefused(t *testing.T) {
	up := newEgressUpstream(t)
	p := startConnectEgress(t, net.IPv4(127, 0, 0, 31), "dave", "right-pass-40ms")
	keys := map[string]string{"k-bad": xpSecret(t, "bad"), "k-good": xpSecret(t, "good")}
	ini := writeEgressINI(t, keys, fmt.Sprintf("k-bad = http://dave:wrong-pass-22qp@%s\nk-good = http://dave:right-pass-40ms@%s\n", p.addr, p.addr))
	tr, logs := egressINITransport(t, up, ini)
	if f := egressPost(t, tr, up.URL, 10, 1); len(f) > 0 {
		t.Fatalf("%d requests failed: %q", len(f), f)
	}
	for _, s := range up.requests() {
		if s.key != keys["k-good"] || !p.crossed(s.src) {
			t.Errorf("a request reached the upstream from %s with the wrong key or not through the proxy", s.src)
		}
	}
	ks, err := tr.KeyStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := ks.Keys["k-bad"]; d.State != jongler.StateLockdown || !d.EgressDown || !strings.HasSuffix(d.Reason, "CONNECT answered 407") {
		t.Errorf("key k-bad, refused by its proxy: %s, down %v, %q; want LOCKDOWN, down", d.State, d.EgressDown, d.Reason)
	}
	checkNoProxySecrets(t, logs.String()+fmt.Sprintf("%+v", ks), "wrong-pass-22qp", "right-pass-40ms")
}
