package compat_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/compat"
	"github.com/api-jongler/jongler/internal/testmain"
)

func TestMain(m *testing.M) { testmain.Main(m) }

var keys = []jongler.Key{{Name: "key1", Value: "val-one-3f9a"}, {Name: "key2", Value: "val-two-7c1e"}, {Name: "key3", Value: "val-three-b2d4"}}

const genPath = "/v1beta/models/gemini-2.5-flash:generateContent"

// upstream answers 429 to key1 and echoes the request to the others.
func upstream(t *testing.T) *httptest.Server {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-goog-api-key") == keys[0].Value {
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
	}))
	t.Cleanup(u.Close)
	return u
}

// TestOriginalAPI walks the original API Jongler's calls: request,
// requestJSON, getKeyStates, getVacantKeys, getLockdownKeys,
// getAvailableKeys, disconnect and cleanUp.
func TestOriginalAPI(t *testing.T) {
	u := upstream(t)
	dir := t.TempDir()
	t.Setenv(jongler.StateDirEnv, dir)
	opts := []jongler.Option{jongler.WithKeys(keys...), jongler.WithBaseURL(u.URL), jongler.WithPolicy(jongler.StatusPolicy{})}
	j, err := compat.New("gemini", opts...)
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
	var he *compat.HTTPError
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
	j2, err := compat.New(jongler.ConnectorGemini, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if l, _ := j2.LockdownKeys(ctx); !slices.Equal(l, []string{"key1"}) {
		t.Fatalf("after restart LockdownKeys %v", l)
	}
	if err := compat.CleanUp("gemini"); err != nil {
		t.Fatal(err)
	}
	if l, _ := j2.LockdownKeys(ctx); len(l) != 0 {
		t.Fatalf("after CleanUp LockdownKeys %v", l)
	}
	if _, status, _ := j.Request(ctx, "GET", "/x", ""); status != 200 {
		t.Fatalf("status %d after a 429 and a cleanup", status)
	}
	if l, _ := j2.LockdownKeys(ctx); !slices.Equal(l, []string{"key1"}) {
		t.Fatalf("LockdownKeys %v, want key1 again", l)
	}
	if err := compat.CleanUp(); err != nil { // every connector
		t.Fatal(err)
	}
	if l, _ := j2.LockdownKeys(ctx); len(l) != 0 {
		t.Fatalf("after CleanUp() LockdownKeys %v", l)
	}
}

func TestRequestNoKeysError(t *testing.T) {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }))
	defer u.Close()
	j, err := compat.New(jongler.ConnectorGemini, jongler.WithKeys(keys...), jongler.WithStore(jongler.NewMemoryStore()), jongler.WithBaseURL(u.URL))
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

func TestOriginalPolicy(t *testing.T) {
	now := time.Now()
	for _, status := range []int{200, 400, 401, 403, 429, 500, 503, 509} {
		v := compat.OriginalPolicy{}.Classify(&jongler.Answer{Status: status, Now: now})
		want := jongler.ActionAccept
		if status == 403 || status == 429 || status == 503 || status == 509 {
			want = jongler.ActionLockdown
			if !v.Until.Equal(now.Add(time.Minute)) || !strings.HasPrefix(v.Reason, strconv.Itoa(status)+" ") {
				t.Errorf("status %d: %+v, want a minute's lockdown", status, v)
			}
		}
		if v.Action != want {
			t.Errorf("status %d: %v, want %v", status, v.Action, want)
		}
	}
	h := http.Header{"Retry-After": {"7"}}
	if v := (compat.OriginalPolicy{}).Classify(&jongler.Answer{Status: 503, Header: h, Now: now}); !v.Until.Equal(now.Add(7*time.Second)) || v.Reason != "503 Service Unavailable" {
		t.Errorf("503 with Retry-After 7: %+v", v)
	}
}
