package jongler_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// upstream is a fake LLM service: it records which key each request
// carried and answers with handle.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	key    string // the credential value, whichever slot
	slots  []string
	body   string
	query  string
	header http.Header
}

// credentialOf returns the credential a request carries and the slots it
// was found in.
func credentialOf(r *http.Request) (string, []string) {
	var key string
	var slots []string
	if v := r.Header.Get("x-goog-api-key"); v != "" {
		key, slots = v, append(slots, "x-goog-api-key")
	}
	if v := r.Header.Get("Authorization"); v != "" {
		key, slots = strings.TrimPrefix(v, "Bearer "), append(slots, "authorization")
	}
	if v := r.URL.Query().Get("key"); v != "" {
		key, slots = v, append(slots, "query")
	}
	return key, slots
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, key string)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, slots := credentialOf(r)
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body.Bytes()))
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{key: key, slots: slots, body: body.String(), query: r.URL.RawQuery, header: r.Header.Clone()})
		u.mu.Unlock()
		handle(w, r, key)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func (u *upstream) keysSeen() []string {
	var keys []string
	for _, s := range u.requests() {
		keys = append(keys, s.key)
	}
	return keys
}

// xpSecret returns a fresh, recognisable test key value.
func xpSecret(t testing.TB, name string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "sk-unique-" + name + "-" + hex.EncodeToString(b)
}

// testKeys are three keys whose values are easy to spot.
var testKeys = map[string]string{"key1": "val-one-3f9a", "key2": "val-two-7c1e", "key3": "val-three-b2d4"}

func valueName(v string) string {
	for n, kv := range testKeys {
		if kv == v {
			return n
		}
	}
	return "?" + v
}

// newTransport builds a transport on the Gemini connector aimed at u, with
// a fresh file store unless opts say otherwise.
func newTransport(t *testing.T, u *upstream, opts ...jongler.Option) *jongler.Transport {
	t.Helper()
	all := append([]jongler.Option{
		jongler.WithKeys(keyList(testKeys)...),
		jongler.WithStateDir(t.TempDir()),
		jongler.WithBaseURL(u.URL),
		jongler.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com", all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func post(t *testing.T, tr http.RoundTripper, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", "placeholder")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// statusOf sends a generateContent request for genPath on base through tr
// and returns the answer's status, its body read; 0 if an error came
// instead.
func statusOf(t *testing.T, tr http.RoundTripper, base string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+genPath, strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0
	}
	readBody(t, resp)
	return resp.StatusCode
}

const genPath = "/v1beta/models/gemini-2.5-flash:generateContent"

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// fakeClock moves forward only when slept on, and records each sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// keyList turns name → value into keys, each its own project, sorted by
// name.
func keyList(m map[string]string) []jongler.Key {
	var out []jongler.Key
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, jongler.Key{Name: name, Value: m[name]})
	}
	return out
}
