package drills_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/api-jongler/jongler/internal/transporttest"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/filestore"
	"github.com/api-jongler/jongler/internal/state"
	"github.com/api-jongler/jongler/jonglertest"
)

// wireKey carries a key, value included, to a child process as JSON: a
// jongler.Key marshals as its name only.
type wireKey struct{ Name, Value, Project string }

func toWire(keys ...jongler.Key) []wireKey {
	out := make([]wireKey, len(keys))
	for i, k := range keys {
		out[i] = wireKey(k)
	}
	return out
}

func fromWire(keys ...wireKey) []jongler.Key {
	out := make([]jongler.Key, len(keys))
	for i, k := range keys {
		out[i] = jongler.Key(k)
	}
	return out
}

// serverKeys are keys as jonglertest's simulated upstream knows them: by
// name, value and project.
func serverKeys(keys ...jongler.Key) []jonglertest.Key {
	out := make([]jonglertest.Key, len(keys))
	for i, k := range keys {
		out[i] = jonglertest.Key{Label: k.Name, Value: k.Value, Project: k.Project}
	}
	return out
}

// secret returns a fresh key value, easy to spot in any output: prefix,
// then label, then random letters.
func secret(prefix, label string) string { return prefix + label + "-" + rand.Text() }

// keyList turns name → value into keys, each its own project, sorted by
// name.
func keyList(m map[string]string) []jongler.Key {
	var out []jongler.Key
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, jongler.Key{Name: name, Value: m[name]})
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer = transporttest.Buffer

// fixture reads an upstream answer of the module's testdata/fixtures.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// genPath is the path of a Gemini generateContent request.
const genPath = "/v1beta/models/gemini-2.5-flash:generateContent"

// upstream is a fake Gemini service: it records the key each request
// carried in x-goog-api-key and answers with handle.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	keys []string
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, key string)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("x-goog-api-key")
		u.mu.Lock()
		u.keys = append(u.keys, key)
		u.mu.Unlock()
		handle(w, r, key)
	}))
	t.Cleanup(u.Close)
	return u
}

// sent counts the requests that carried the key value.
func (u *upstream) sent(value string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, k := range u.keys {
		if k == value {
			n++
		}
	}
	return n
}

// forget forgets the requests seen so far.
func (u *upstream) forget() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.keys = nil
}

// post sends a POST of body to url through tr and returns the answer, its
// body read.
func post(t *testing.T, tr http.RoundTripper, url, body string) (*http.Response, string) {
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
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(got)
}

// generate sends one generateContent request for model through rt to
// base: a short one, or with stream a streamed answer read to its end,
// calling started (if not nil) once it begins. An answer other than 200
// is an error quoting the start of its body.
func generate(ctx context.Context, rt http.RoundTripper, base, model string, stream bool, started func()) error {
	path := "/v1beta/models/" + model + ":generateContent"
	if stream {
		path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	if started != nil {
		started()
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// loadState loads and decodes the state of connector in s, as the
// transport does.
func loadState(ctx context.Context, s jongler.Store, connector string) (state.State, error) {
	raw, err := s.Load(ctx, connector)
	if err != nil {
		return state.State{}, err
	}
	return state.Decode(raw)
}

// drillConn is the connector of the drill's own leases, drillKeys its keys.
const drillConn = "drill.example"

var drillKeys = []string{"k1", "k2", "k3"}

// drillStore opens a file store on dir whose warnings go to the returned
// buffer.
func drillStore(t *testing.T, dir string) (*jongler.FileStore, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	s, err := jongler.NewFileStore(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

// drillSeed writes a healthy state directory: every key of drillConn
// leased once (its lock files exist), and k3 in lockdown.
func drillSeed(t *testing.T, dir string) {
	t.Helper()
	s, _ := drillStore(t, dir)
	ctx := context.Background()
	var held []jongler.Lease
	for range drillKeys {
		l, err := s.Acquire(ctx, drillConn, drillKeys, 1)
		if err != nil || l == nil {
			t.Fatalf("seeding: %v, %v", l, err)
		}
		held = append(held, l)
	}
	for _, l := range held {
		l.Release(ctx)
	}
	err := state.Update(ctx, s, drillConn, func(st *state.State) error {
		st.Records = append(st.Records, state.Record{Key: "k3", State: state.Lockdown, Until: time.Now().Add(time.Hour), Reason: "drill"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exclusive checks that two stores on one directory never lease one key
// at once: a takes every key it can, b must get none; then, all given
// back, b gets one within the rest of a key whose holder is gone.
func exclusive(t *testing.T, a, b *jongler.FileStore) {
	t.Helper()
	ctx := context.Background()
	var held []jongler.Lease
	for range drillKeys {
		l, err := a.Acquire(ctx, drillConn, drillKeys, 1)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if l == nil {
			break
		}
		held = append(held, l)
	}
	if len(held) == 0 {
		t.Fatal("no key leasable at all")
	}
	if l, err := b.Acquire(ctx, drillConn, drillKeys, 1); err != nil {
		t.Fatalf("Acquire by a second store: %v", err)
	} else if l != nil {
		t.Fatalf("a second store leased %s while the first held every key", l.Key())
	}
	for _, l := range held {
		l.Release(ctx)
	}
	deadline := time.Now().Add(3 * filestore.DeadHolderRest)
	for {
		l, err := b.Acquire(ctx, drillConn, drillKeys, 1)
		if err != nil {
			t.Fatalf("Acquire after release: %v", err)
		}
		if l != nil {
			l.Release(ctx)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no key leasable after the first store released them all")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
