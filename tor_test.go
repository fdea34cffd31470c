package jongler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	socks5 "github.com/armon/go-socks5"

	"github.com/api-jongler/jongler"
)

// socksProxy is a real SOCKS5 server in this process. It resolves only the
// names it is given, so that a request to one of them can only have
// crossed it, and it records what it resolved and dialed.
type socksProxy struct {
	addr  string
	hosts map[string]net.IP

	mu       sync.Mutex
	resolved []string
	dialed   []string
}

func (p *socksProxy) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	p.mu.Lock()
	p.resolved = append(p.resolved, name)
	p.mu.Unlock()
	if ip, ok := p.hosts[name]; ok {
		return ctx, ip, nil
	}
	return ctx, nil, fmt.Errorf("socks test proxy: no such host %q", name)
}

func (p *socksProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	p.mu.Lock()
	p.dialed = append(p.dialed, addr)
	p.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (p *socksProxy) seen() (resolved, dialed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.resolved), slices.Clone(p.dialed)
}

// startSOCKS runs a SOCKS5 server on the loopback until the test ends.
func startSOCKS(t *testing.T, hosts map[string]net.IP) *socksProxy {
	t.Helper()
	p := &socksProxy{hosts: hosts}
	srv, err := socks5.New(&socks5.Config{
		Resolver: p,
		Dial:     p.dial,
		Logger:   log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	// Serve's connections are tracked so that the test waits for them.
	var wg sync.WaitGroup
	var conns sync.Map
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Go(func() {
				defer conns.Delete(c)
				srv.ServeConn(c)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		conns.Range(func(c, _ any) bool {
			c.(net.Conn).Close()
			return true
		})
		wg.Wait()
	})
	return p
}

// torUpstream is a fake LLM service that records the key and host of each
// request.
type torUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	keys  []string
	hosts []string
}

func newTorUpstream(t *testing.T) *torUpstream {
	u := &torUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.keys = append(u.keys, r.Header.Values("x-goog-api-key")...)
		u.hosts = append(u.hosts, r.Host)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"via socks"}],"role":"model"}}]}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *torUpstream) seen() (keys, hosts []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.keys), slices.Clone(u.hosts)
}

// torSetup returns an upstream, a SOCKS5 proxy that alone knows that
// llm.test is that upstream's host, and the upstream's address under that
// name.
func torSetup(t *testing.T) (*torUpstream, *socksProxy, string) {
	up := newTorUpstream(t)
	_, port, err := net.SplitHostPort(up.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := startSOCKS(t, map[string]net.IP{"llm.test": net.IPv4(127, 0, 0, 1)})
	return up, p, "http://llm.test:" + port
}

func torPost(t *testing.T, tr *jongler.Transport, base string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1beta/models/gemini-2.5-flash:generateContent",
		strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// checkCrossed checks that one request crossed the proxy, which resolved
// llm.test, and reached the upstream with the key.
func checkCrossed(t *testing.T, up *torUpstream, p *socksProxy, base, secret string) {
	t.Helper()
	resolved, dialed := p.seen()
	if !slices.Equal(resolved, []string{"llm.test"}) {
		t.Errorf("the SOCKS5 proxy resolved %q; want [llm.test]: the name must be resolved by the proxy", resolved)
	}
	if want := up.Listener.Addr().String(); !slices.Equal(dialed, []string{want}) {
		t.Errorf("the SOCKS5 proxy dialed %q; want [%s]", dialed, want)
	}
	keys, hosts := up.seen()
	if len(keys) != 1 || keys[0] != secret {
		t.Errorf("the upstream got %d key headers, the right key: %v; want the key once", len(keys), len(keys) == 1 && keys[0] == secret)
	}
	if want := strings.TrimPrefix(base, "http://"); !slices.Equal(hosts, []string{want}) {
		t.Errorf("the upstream saw hosts %q; want [%s]", hosts, want)
	}
}

func TestTorRequestsCrossTheSOCKS5Proxy(t *testing.T) {
	up, p, base := torSetup(t)
	secret := xpSecret(t, "tor")
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(keyList(map[string]string{"tor": secret})...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(base),
		jongler.WithTor(p.addr),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	code, body, err := torPost(t, tr, base)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "via socks") {
		t.Fatalf("through the proxy: %d %q %v; want 200 and the answer", code, body, err)
	}
	checkCrossed(t, up, p, base, secret)
}

func TestTorFromEnvironment(t *testing.T) {
	up, p, base := torSetup(t)
	secret := xpSecret(t, "tor-env")
	t.Setenv(jongler.TorEnv, p.addr)
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(keyList(map[string]string{"tor-env": secret})...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(base),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	code, body, err := torPost(t, tr, base)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "via socks") {
		t.Fatalf("through the proxy named by %s: %d %q %v; want 200 and the answer", jongler.TorEnv, code, body, err)
	}
	checkCrossed(t, up, p, base, secret)
}

func TestTorBadAddress(t *testing.T) {
	opts := func(extra ...jongler.Option) []jongler.Option {
		return append([]jongler.Option{
			jongler.WithKeys(keyList(map[string]string{"k": xpSecret(t, "k")})...),
			jongler.WithStore(jongler.NewMemoryStore()),
		}, extra...)
	}
	for _, tc := range []struct {
		name string
		opts []jongler.Option
		env  string
		want []string
	}{
		{"no port", opts(jongler.WithTor("127.0.0.1")), "", []string{"Tor/SOCKS5 address", `"127.0.0.1"`, "missing port"}},
		{"junk", opts(jongler.WithTor("socks5://[::1")), "", []string{"Tor/SOCKS5 address", `"socks5://[::1"`}},
		{"environment", opts(), "tor-host-without-port", []string{"Tor/SOCKS5 address", `"tor-host-without-port"`}},
		{"base not an http.Transport", opts(jongler.WithTor("127.0.0.1:9050"), jongler.WithBaseTransport(torPlainRoundTripper(nil))), "", []string{"WithTor", "*http.Transport"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(jongler.TorEnv, tc.env)
			}
			_, err := jongler.NewTransport("generativelanguage.googleapis.com", tc.opts...)
			if err == nil {
				t.Fatal("NewTransport succeeded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// torPlainRoundTripper is an http.RoundTripper that is not an *http.Transport.
type torPlainRoundTripper func(*http.Request) (*http.Response, error)

func (f torPlainRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTorProxyDown: with nothing listening at the proxy's address, the
// request fails with an error naming the proxy, never the key, and nothing
// reaches the upstream.
func TestTorProxyDown(t *testing.T) {
	up, _, base := torSetup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	secret := xpSecret(t, "down")
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(keyList(map[string]string{"down": secret})...),
		jongler.WithStore(jongler.NewMemoryStore()),
		jongler.WithBaseURL(base),
		jongler.WithTor(dead),
		jongler.WithBackoff(func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	_, _, err = torPost(t, tr, base)
	if err == nil {
		t.Fatal("request through a dead proxy succeeded")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "socks connect") || !strings.Contains(err.Error(), dead) {
		t.Errorf("error %q: want a socks connect *net.OpError naming the proxy %s", err, dead)
	}
	if strings.Contains(err.Error(), secret) {
		t.Error("the error shows the key")
	}
	if keys, _ := up.seen(); len(keys) != 0 {
		t.Errorf("the upstream got %d requests; want none", len(keys))
	}
}
