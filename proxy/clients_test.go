package proxy_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// The tokens of the clients below: alice's is given in clear, bob's as its
// SHA-256 only.
const (
	aliceToken = "alice-token-7c1f0e9b2d"
	bobToken   = "bob-token-4a8e21c06f93"
)

// stepClock is a clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.add(d)
	return ctx.Err()
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func alice(perMinute, perDay int, allow ...string) proxy.Client {
	return proxy.Client{Name: "alice", Token: aliceToken, PerMinute: perMinute, PerDay: perDay, Allow: allow}
}

func bob() proxy.Client {
	return proxy.Client{Name: "bob", TokenSHA256: sha256.Sum256([]byte(bobToken))}
}

// accessLines returns the access log's request lines in logs.
func accessLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// waitAccessLines returns the access log's request lines in logs once
// there are n (or after 10 s): the handler logs a request after its
// answer, which the client may have read already.
func waitAccessLines(t *testing.T, logs *syncBuffer, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := accessLines(t, logs.String())
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(time.Millisecond)
	}
}

// TestClientNamesInLogAndMetrics: each request's access-log line and the
// request counter name its client (a token given in clear, one given as
// its hash, one of WithTokens, none for a refused request); neither the
// log nor the metrics hold a token.
func TestClientNamesInLogAndMetrics(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	ps := recorderProxy(t, rec, logs, nil, proxy.WithClients(alice(0, 0), bob()), proxy.WithMeterProvider(mp))

	want := []struct {
		tok, name string
		status    int
	}{
		{aliceToken, "alice", 200},
		{bobToken, "bob", 200},
		{bobToken, "bob", 200},
		{token, proxy.UnnamedClient, 200},
		{"wrong-token-0000000000", proxy.NoClient, 401},
	}
	for _, w := range want {
		if resp, body := do(t, http.MethodPost, ps.URL+genPath, w.tok, genBody); resp.StatusCode != w.status {
			t.Fatalf("%s: %d %s", w.name, resp.StatusCode, body)
		}
	}
	lines := waitAccessLines(t, logs, len(want))
	if len(lines) != len(want) {
		t.Fatalf("%d access-log lines, want %d:\n%s", len(lines), len(want), logs)
	}
	for i, l := range lines {
		if l["client_name"] != want[i].name || l["client"] != "127.0.0.1" {
			t.Errorf("line %d: client_name %v client %v, want %s 127.0.0.1", i+1, l["client_name"], l["client"], want[i].name)
		}
	}
	for _, tok := range []string{aliceToken, bobToken, token} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("the log holds a token:\n%s", logs)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "jongler.proxy.requests" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				name, _ := dp.Attributes.Value("client_name")
				status, _ := dp.Attributes.Value("status")
				conn, _ := dp.Attributes.Value("connector")
				if conn.AsString() != gemini {
					t.Errorf("connector %q", conn.AsString())
				}
				got[name.AsString()+" "+status.Emit()] += dp.Value
			}
		}
	}
	wantCounts := map[string]int64{"alice 200": 1, "bob 200": 2, "token 200": 1, "- 401": 1}
	if len(got) != len(wantCounts) {
		t.Fatalf("jongler.proxy.requests: %v, want %v", got, wantCounts)
	}
	for k, v := range wantCounts {
		if got[k] != v {
			t.Fatalf("jongler.proxy.requests: %v, want %v", got, wantCounts)
		}
	}
}

// TestClientLimits: a client over its own limit gets 429 with Retry-After
// until its window ends, in the upstream's shape and saying so, while
// another client goes on; nothing over the limit reaches the upstream.
func TestClientLimits(t *testing.T) {
	rec := newRecorder(t, nil)
	clock := &stepClock{t: time.Date(2026, 5, 1, 9, 0, 20, 0, time.UTC)}
	usage := proxy.NewClientUsage(clock)
	ps := recorderProxy(t, rec, &syncBuffer{}, nil,
		proxy.WithClients(alice(2, 3), bob()), proxy.WithClientUsage(usage))

	send := func(tok string) (*http.Response, string) {
		return do(t, http.MethodPost, ps.URL+genPath, tok, genBody)
	}
	for range 2 {
		if resp, body := send(aliceToken); resp.StatusCode != 200 {
			t.Fatalf("alice within her limit: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := send(aliceToken)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "40" {
		t.Fatalf("alice over 2 a minute: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	var shape struct {
		Error struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &shape); err != nil || shape.Error.Status != "RESOURCE_EXHAUSTED" ||
		!strings.Contains(shape.Error.Message, "client alice is over its own limit of 2 requests a minute") ||
		!strings.Contains(shape.Error.Message, "the keys are not exhausted") {
		t.Fatalf("429 body: %s", body)
	}
	for range 3 {
		if resp, body := send(bobToken); resp.StatusCode != 200 {
			t.Fatalf("bob, while alice is limited: %d %s", resp.StatusCode, body)
		}
	}
	clock.add(40 * time.Second) // the next minute
	if resp, body := send(aliceToken); resp.StatusCode != 200 {
		t.Fatalf("alice in the next minute: %d %s", resp.StatusCode, body)
	}
	resp, body = send(aliceToken)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "3 requests a day") {
		t.Fatalf("alice over 3 a day: %d %s", resp.StatusCode, body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "53940" { // 14:59:00 to midnight
		t.Fatalf("Retry-After %q, want until midnight UTC", ra)
	}
	if n := len(rec.all()); n != 6 {
		t.Fatalf("the upstream got %d requests, want 6", n)
	}
	clock.add(15 * time.Hour)
	if resp, body := send(aliceToken); resp.StatusCode != 200 {
		t.Fatalf("alice the next day: %d %s", resp.StatusCode, body)
	}
}

// TestClientsStatus: Handler.Clients tells each client's limits and
// counts, by name, never a token; one ClientUsage carries the counts to
// the next handler (a reload), which sees a client added.
func TestClientsStatus(t *testing.T) {
	rec := newRecorder(t, nil)
	clock := &stepClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	usage := proxy.NewClientUsage(clock)
	tr := recorderTransport(t, rec)
	h1, err := proxy.New(tr, proxy.WithClients(alice(1, 0, "gemini")), proxy.WithClientUsage(usage))
	if err != nil {
		t.Fatal(err)
	}
	ps := httptestServer(t, h1)
	do(t, http.MethodPost, ps+genPath, aliceToken, genBody)
	do(t, http.MethodPost, ps+genPath, aliceToken, genBody)

	h2, err := proxy.New(tr, proxy.WithClients(alice(1, 0, "gemini"), bob()), proxy.WithClientUsage(usage))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h2.Clients())
	want := `[{"name":"alice","per_minute":1,"allow":["gemini"],"this_minute":1,"today":1,"requests":1,"limited":1,"last_seen":"2026-05-01T09:00:00Z"},` +
		`{"name":"bob","this_minute":0,"today":0,"requests":0,"limited":0}]`
	if string(got) != want {
		t.Fatalf("Clients:\n%s\nwant\n%s", got, want)
	}
}

// TestClientAllow: a client may use only the connectors it is allowed,
// named by name or alias; another gets 403 and the upstream nothing.
func TestClientAllow(t *testing.T) {
	for _, c := range []struct {
		allow  []string
		status int
	}{
		{nil, 200},
		{[]string{"gemini"}, 200},
		{[]string{gemini}, 200},
		{[]string{"openai", "hf"}, 403},
	} {
		rec := newRecorder(t, nil)
		ps := recorderProxy(t, rec, &syncBuffer{}, nil, proxy.WithClients(alice(0, 0, c.allow...)))
		resp, body := do(t, http.MethodPost, ps.URL+genPath, aliceToken, genBody)
		if resp.StatusCode != c.status {
			t.Fatalf("allow %v: %d %s", c.allow, resp.StatusCode, body)
		}
		if c.status == 403 && (len(rec.all()) != 0 || !strings.Contains(body, "client alice may not use connector "+gemini)) {
			t.Fatalf("allow %v: upstream got %d requests; body %s", c.allow, len(rec.all()), body)
		}
	}
}

// TestHashedTokenKeptFromUpstream: the token of a client given by its
// hash, once sent where a key goes, is kept from the upstream and the log
// wherever else the request holds it, as a token given in clear is.
func TestHashedTokenKeptFromUpstream(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := &syncBuffer{}
	ps := recorderProxy(t, rec, logs, nil, proxy.WithClients(bob()))
	resp, body := do(t, http.MethodPost, ps.URL+genPath+"?note="+bobToken, bobToken, genBody,
		"Cookie", "session="+bobToken, "X-Other-Key", bobToken)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, r := range rec.all() {
		if strings.Contains(r.URL.String(), bobToken) || strings.Contains(headerText(r.Header), bobToken) {
			t.Fatalf("the upstream got bob's token: %s %v", r.URL, r.Header)
		}
	}
	if waitAccessLines(t, logs, 1); strings.Contains(logs.String(), bobToken) {
		t.Fatalf("the log holds bob's token:\n%s", logs)
	}
}

// TestNewRefusesBadClients: a client without a name or a token, or with a
// token another has, is refused.
func TestNewRefusesBadClients(t *testing.T) {
	rec := newRecorder(t, nil)
	tr := recorderTransport(t, rec)
	for _, c := range []struct {
		clients []proxy.Client
		want    string
	}{
		{[]proxy.Client{{Token: aliceToken}}, "client 1 has no name"},
		{[]proxy.Client{{Name: "carol"}}, "client carol has no token"},
		{[]proxy.Client{alice(0, 0), {Name: "carol", TokenSHA256: sha256.Sum256([]byte(aliceToken))}}, "client carol: its token is another client's too"},
		{[]proxy.Client{{Name: "carol", Token: bobToken, PerDay: -1}}, "client carol: a limit below 0"},
	} {
		_, err := proxy.New(tr, proxy.WithClients(c.clients...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.clients, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), aliceToken) || strings.Contains(err.Error(), bobToken)) {
			t.Errorf("the error holds a token: %v", err)
		}
	}
}

// nameRecorder records the client name each request's context carries.
type nameRecorder struct {
	mu    sync.Mutex
	names []string
	base  http.RoundTripper
}

func (n *nameRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	name, ok := proxy.ClientFromContext(r.Context())
	n.mu.Lock()
	if ok {
		n.names = append(n.names, name)
	}
	if proxy.AllowedFromContext(r.Context(), "gemini") != (name == "bob") || proxy.AllowedFromContext(r.Context(), "openai") {
		n.names = append(n.names, "wrong allow")
	}
	n.mu.Unlock()
	return n.base.RoundTrip(r)
}

// TestClientName: Handler.ClientName names the client of a request sent
// elsewhere (an admin page), and the context of a request the handler
// serves carries it down to the transport's base.
func TestClientName(t *testing.T) {
	rec := newRecorder(t, nil)
	nr := &nameRecorder{base: http.DefaultTransport}
	b := bob()
	b.Allow = []string{"gemini"}
	h, err := proxy.New(recorderTransport(t, rec, jongler.WithBaseTransport(nr)), proxy.WithClients(alice(0, 0), b))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hdr, value, want string
		ok               bool
	}{
		{"Authorization", "Bearer " + bobToken, "bob", true},
		{"X-Goog-Api-Key", aliceToken, "alice", true},
		{"Authorization", "Bearer nobody-0000000000000", proxy.NoClient, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		r.Header.Set(c.hdr, c.value)
		if name, ok := h.ClientName(r); name != c.want || ok != c.ok {
			t.Errorf("%s: %q %v, want %q %v", c.want, name, ok, c.want, c.ok)
		}
	}
	ps := httptestServer(t, h)
	do(t, http.MethodPost, ps+genPath, bobToken, genBody)
	if proxy.AllowedFromContext(t.Context(), "anything") != true {
		t.Fatal("a context without a client is not allowed")
	}
	if len(nr.names) != 1 || nr.names[0] != "bob" {
		t.Fatalf("the transport's base saw the clients %q, want [bob]", nr.names)
	}
}
