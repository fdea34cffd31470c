package jongler_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestOriginalAPI walks the original API Jongler's calls: request,
// requestJSON, getKeyStates, getVacantKeys, getLockdownKeys,
// getAvailableKeys, disconnect and cleanUp.
func TestOriginalAPI(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) {
		if valueName(key) == "key1" {
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":429}}`)
			return
		}
		if r.URL.Path == "/bad" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":400,"message":"bad"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "got": string(body), "ctype": r.Header.Get("Content-Type")})
	})
	dir := t.TempDir()
	opts := []jongler.Option{jongler.WithKeys(testKeys), jongler.WithStateDir(dir), jongler.WithBaseURL(u.URL), jongler.WithPolicy(jongler.StatusPolicy{})}
	j, err := jongler.New(gem, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()

	text, status, err := j.Request(ctx, "POST", genPath, `{"contents":[]}`)
	if err != nil || status != 200 {
		t.Fatalf("Request: %d %v", status, err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(text), &got); err != nil || got["got"] != `{"contents":[]}` || got["path"] != genPath || got["ctype"] != "application/json" {
		t.Fatalf("Request answer %q (%v)", text, err)
	}

	out, err := j.RequestJSON(ctx, "v1beta/models/x:generateContent", map[string]any{"contents": []any{}})
	if err != nil || out["method"] != "POST" || out["got"] != `{"contents":[]}` {
		t.Fatalf("RequestJSON = %v, %v", out, err)
	}
	_, err = j.RequestJSON(ctx, "/bad", map[string]any{})
	var he *jongler.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 400 || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("RequestJSON on 400: %v", err)
	}

	states, err := j.KeyStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(states.Lockdown, []string{"key1"}) || !slices.Equal(states.Vacant, []string{"key2", "key3"}) {
		t.Fatalf("KeyStates %+v", states)
	}
	if v, _ := j.VacantKeys(ctx); !slices.Equal(v, []string{"key2", "key3"}) {
		t.Fatalf("VacantKeys %v", v)
	}
	if l, _ := j.LockdownKeys(ctx); !slices.Equal(l, []string{"key1"}) {
		t.Fatalf("LockdownKeys %v", l)
	}
	if a := j.AvailableKeys(); !slices.Equal(a, []string{"key1", "key2", "key3"}) {
		t.Fatalf("AvailableKeys %v", a)
	}

	// State survives the Jongler: a new one in the same state dir sees it.
	j2, err := jongler.New(gem, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := j2.LockdownKeys(ctx); !slices.Equal(l, []string{"key1"}) {
		t.Fatalf("after restart LockdownKeys %v", l)
	}
	if err := jongler.CleanUp(gem, jongler.WithStateDir(dir)); err != nil {
		t.Fatal(err)
	}
	if l, _ := j2.LockdownKeys(ctx); len(l) != 0 {
		t.Fatalf("after CleanUp LockdownKeys %v", l)
	}
	if err := jongler.CleanUp("", jongler.WithStateDir(dir)); err != nil {
		t.Fatal(err)
	}
}

func TestRequestNoKeysError(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, key string) { w.WriteHeader(401) })
	j, err := jongler.New(gem, jongler.WithKeys(testKeys), jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(u.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	_, status, err := j.Request(context.Background(), "GET", "/v1beta/models", "")
	if err != nil || status != 401 {
		t.Fatalf("first request: %d %v, want the 401 back once every key was refused", status, err)
	}
	_, _, err = j.Request(context.Background(), "GET", "/v1beta/models", "")
	var nk *jongler.NoKeyError
	if !errors.Is(err, jongler.ErrNoKeys) || !errors.As(err, &nk) || nk.RetryAfter != 0 {
		t.Fatalf("err = %v, want ErrNoKeys with no recovery time", err)
	}
	if strings.Contains(err.Error(), u.URL) {
		t.Fatalf("error %q repeats the URL", err)
	}
}
